using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Crac.Hosting;

/// <summary>
/// Finds the container's resources, in registration order: singletons registered as
/// <see cref="IResource"/> or whose implementation is one (registered with the global context,
/// kept alive by the container); scoped and transient <see cref="IResource"/> registrations
/// (then all <see cref="IResource"/> registrations go through one <see cref="ScopedResources"/>,
/// which creates them in a scope of their own for each notification); and hosted services that
/// implement <see cref="IResource"/> (they pause with background work, after the server's requests
/// are drained). The integration's own resources are left out: they have their stages already.
/// </summary>
internal static class ResourceDiscovery
{
    public sealed record Found(IReadOnlyList<IResource> Application, IReadOnlyList<IResource> HostedServices);

    public static Found Discover(IServiceProvider services, IReadOnlyList<ServiceDescriptor> descriptors, ILogger logger)
    {
        var seen = new HashSet<object>(ReferenceEqualityComparer.Instance);
        var hosted = new List<IResource>();
        foreach (IHostedService service in services.GetServices<IHostedService>())
        {
            if (service is IResource resource && !IsOurs(service.GetType()) && seen.Add(service))
            {
                hosted.Add(resource);
            }
        }

        var application = new List<IResource>();
        List<ServiceDescriptor> asResource = [.. descriptors.Where(d => !d.IsKeyedService && d.ServiceType == typeof(IResource))];
        bool anyScoped = asResource.Any(d => d.Lifetime != ServiceLifetime.Singleton);
        List<IResource>? resolvedAsResource = null;
        var instancesByType = new Dictionary<Type, List<object?>>();
        bool groupAdded = false;

        foreach (ServiceDescriptor descriptor in descriptors)
        {
            if (descriptor.IsKeyedService || descriptor.ServiceType == typeof(IHostedService) || descriptor.ServiceType.ContainsGenericParameters)
            {
                continue;
            }

            if (descriptor.ServiceType == typeof(IResource))
            {
                if (anyScoped)
                {
                    // A scoped registration cannot be resolved from the root, nor one element of an
                    // enumerable on its own: the whole group is notified through one scope each time.
                    if (!groupAdded)
                    {
                        application.Add(new ScopedResources(services.GetRequiredService<IServiceScopeFactory>(), asResource));
                        groupAdded = true;
                    }

                    continue;
                }

                // IEnumerable<T> resolves one instance per registration, in registration order.
                resolvedAsResource ??= [.. services.GetServices<IResource>()];
                int index = asResource.IndexOf(descriptor);
                if (index < resolvedAsResource.Count && !IsOurs(resolvedAsResource[index].GetType()) && seen.Add(resolvedAsResource[index]))
                {
                    application.Add(resolvedAsResource[index]);
                }

                continue;
            }

            if (!ImplementsResource(descriptor))
            {
                continue;
            }

            if (descriptor.Lifetime != ServiceLifetime.Singleton)
            {
                logger.LogWarning(
                    "{Service} implements IResource but is registered as {Lifetime} under {ServiceType}: it is not notified. Register it as a singleton, or as IResource to have it created for each notification.",
                    descriptor.ImplementationType, descriptor.Lifetime, descriptor.ServiceType);
                continue;
            }

            if (!instancesByType.TryGetValue(descriptor.ServiceType, out List<object?>? instances))
            {
                int registrations = descriptors.Count(d => !d.IsKeyedService && d.ServiceType == descriptor.ServiceType);
                instances = registrations == 1 ? [services.GetService(descriptor.ServiceType)] : [.. services.GetServices(descriptor.ServiceType)];
                instancesByType[descriptor.ServiceType] = instances;
            }

            int position = descriptors.Where(d => !d.IsKeyedService && d.ServiceType == descriptor.ServiceType).ToList().IndexOf(descriptor);
            if (position < instances.Count && instances[position] is IResource resource && seen.Add(resource))
            {
                application.Add(resource);
            }
        }

        return new Found(application, hosted);
    }

    private static bool ImplementsResource(ServiceDescriptor descriptor) =>
        (descriptor.ImplementationType ?? descriptor.ImplementationInstance?.GetType()) is { } type
            && typeof(IResource).IsAssignableFrom(type) && !IsOurs(type);

    /// <summary>The integration's own resources (Kestrel's drain, the pools) have their stages already.</summary>
    private static bool IsOurs(Type type) => type.Assembly.GetName().Name is "Crac.Hosting" or "Crac.AspNetCore";
}
