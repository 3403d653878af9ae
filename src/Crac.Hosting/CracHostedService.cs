using Crac.Hosting.Pools;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Crac.Hosting;

/// <summary>
/// Puts the host's services in their places when it starts: the container's resources in the
/// global context, hosted services that implement <see cref="IResource"/> and
/// <see cref="BackgroundWork"/> with background work, the outbound pools with the pools.
/// </summary>
internal sealed class CracHostedService(
    IServiceProvider services,
    RegisteredServices registered,
    HostStages stages,
    BackgroundWork work,
    HttpConnections http,
    CracMetrics metrics,
    CheckpointLog log,
    ILoggerFactory loggers) : IHostedService, IDisposable
{
    // Held here, as the container holds us: the global context holds resources weakly.
    private readonly List<IResource> _kept = [];
    private readonly List<ContainerResource> _application = [];
    private readonly List<object> _multiplexers = [];

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _ = metrics;
        _ = log;
        ILogger logger = loggers.CreateLogger("Crac");
        IReadOnlyList<ServiceDescriptor> descriptors = registered.Descriptors;

        ConfigurationReload.Track(services.GetRequiredService<Microsoft.Extensions.Configuration.IConfiguration>());
        Keep(stages.Pools, http);
        RegisterOptionalPools(descriptors, logger);

        ResourceDiscovery.Found found = ResourceDiscovery.Discover(services, descriptors, logger);
        Keep(stages.Work, new BackgroundWorkResource(work, loggers.CreateLogger<BackgroundWork>()));
        foreach (IResource hosted in found.HostedServices)
        {
            stages.Work.Register(hosted);
        }

        foreach (IResource resource in found.Application)
        {
            var registered = new ContainerResource(resource);
            _application.Add(registered);
            Core.GlobalContext.Register(registered);
        }

        logger.LogInformation(
            "Checkpoint coordination: {Resources} resource(s) from the container, {Hosted} hosted service(s) that pause, background work and outbound pools registered",
            found.Application.Count, found.HostedServices.Count);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>The host is gone: its resources take no further part.</summary>
    public void Dispose()
    {
        foreach (ContainerResource resource in _application)
        {
            resource.Stop();
        }

        RedisConnections.Instance.Forget(_multiplexers);
        foreach (IDisposable kept in _kept.OfType<IDisposable>())
        {
            kept.Dispose();
        }
    }

    private void Keep(HostStages.Stage stage, IResource resource)
    {
        _kept.Add(resource);
        stage.Register(resource);
    }

    private void RegisterOptionalPools(IReadOnlyList<ServiceDescriptor> descriptors, ILogger logger)
    {
        var dataSources = new List<object>();
        var multiplexers = new List<object>();
        var seen = new HashSet<object>(ReferenceEqualityComparer.Instance);
        foreach (ServiceDescriptor descriptor in descriptors)
        {
            if (descriptor.IsKeyedService || descriptor.Lifetime != ServiceLifetime.Singleton)
            {
                continue;
            }

            bool npgsql = NpgsqlPools.IsDataSource(descriptor.ServiceType);
            bool redis = RedisConnections.IsMultiplexer(descriptor.ServiceType);
            if ((npgsql || redis) && services.GetService(descriptor.ServiceType) is { } instance && seen.Add(instance))
            {
                (npgsql ? dataSources : multiplexers).Add(instance);
            }
        }

        if (dataSources.Count > 0 || AppDomain.CurrentDomain.GetAssemblies().Any(a => a.GetName().Name == NpgsqlPools.AssemblyName))
        {
            Keep(stages.Pools, new NpgsqlPools(dataSources, logger));
        }

        if (multiplexers.Count > 0)
        {
            RedisConnections.Instance.Logger = logger;
            RedisConnections.Instance.Watch(multiplexers);
            _multiplexers.AddRange(multiplexers);
            RedisConnections.Instance.EnsureRegistered();
        }
    }
}
