using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Crac.Hosting;

/// <summary>
/// Finds the container's resources: singletons registered as <see cref="IResource"/> or whose
/// implementation is one (registered with the global context, kept alive by the container),
/// scoped and transient <see cref="IResource"/> registrations (created in a scope of their own
/// for each notification), and hosted services that implement <see cref="IResource"/> (they
/// pause with background work, after the server's requests are drained).
/// </summary>
internal static class ResourceDiscovery
{
    public sealed record Found(IReadOnlyList<IResource> Singletons, IReadOnlyList<IResource> HostedServices, bool HasScoped);

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

        var singletons = new List<IResource>();
        bool hasScoped = false;
        List<ServiceDescriptor> asResource = [.. descriptors.Where(d => !d.IsKeyedService && d.ServiceType == typeof(IResource))];
        if (asResource.Count > 0)
        {
            hasScoped = asResource.Any(d => d.Lifetime != ServiceLifetime.Singleton);
            if (hasScoped)
            {
                // A scoped registration cannot be resolved from the root: resolve them all in a
                // scope, which hands out the root's singletons as they are.
                using IServiceScope scope = services.CreateScope();
                AddSingletons(scope.ServiceProvider.GetServices<IResource>().ToList(), asResource);
            }
            else
            {
                AddSingletons(services.GetServices<IResource>().ToList(), asResource);
            }
        }

        // Singletons registered under another type whose implementation is a resource.
        foreach (IGrouping<Type, ServiceDescriptor> group in descriptors
            .Where(d => !d.IsKeyedService && d.ServiceType != typeof(IResource) && d.ServiceType != typeof(IHostedService))
            .GroupBy(d => d.ServiceType))
        {
            List<ServiceDescriptor> registrations = [.. group];
            if (!registrations.Any(d => d.Lifetime == ServiceLifetime.Singleton && ImplementsResource(d)))
            {
                continue;
            }

            if (group.Key.ContainsGenericParameters)
            {
                continue;
            }

            List<object?> instances = registrations.Count == 1 ? [services.GetService(group.Key)] : [.. services.GetServices(group.Key)];
            for (int i = 0; i < registrations.Count && i < instances.Count; i++)
            {
                if (registrations[i].Lifetime == ServiceLifetime.Singleton && instances[i] is IResource resource && seen.Add(resource))
                {
                    singletons.Add(resource);
                }
            }
        }

        foreach (ServiceDescriptor scoped in descriptors.Where(d => d.Lifetime != ServiceLifetime.Singleton && d.ServiceType != typeof(IResource) && ImplementsResource(d)))
        {
            logger.LogWarning(
                "{Service} implements IResource but is registered as {Lifetime} under {ServiceType}: it is not notified. Register it as a singleton, or as IResource to have it created for each notification.",
                scoped.ImplementationType, scoped.Lifetime, scoped.ServiceType);
        }

        return new Found(singletons, hosted, hasScoped);

        void AddSingletons(List<IResource> instances, List<ServiceDescriptor> registrations)
        {
            // IEnumerable<T> resolves one instance per registration, in registration order.
            for (int i = 0; i < registrations.Count && i < instances.Count; i++)
            {
                if (registrations[i].Lifetime == ServiceLifetime.Singleton && !IsOurs(instances[i].GetType()) && seen.Add(instances[i]))
                {
                    singletons.Add(instances[i]);
                }
            }
        }
    }

    private static bool ImplementsResource(ServiceDescriptor descriptor) =>
        !descriptor.IsKeyedService && (descriptor.ImplementationType ?? descriptor.ImplementationInstance?.GetType()) is { } type
            && typeof(IResource).IsAssignableFrom(type) && !IsOurs(type);

    /// <summary>The integration's own resources (Kestrel's drain, the pools) have their stages already.</summary>
    private static bool IsOurs(Type type) => type.Assembly.GetName().Name is "Crac.Hosting" or "Crac.AspNetCore";
}
