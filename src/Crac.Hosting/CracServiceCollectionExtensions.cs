using Crac.Hosting;
using Crac.Hosting.Pools;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Http;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds checkpoint coordination to a Generic Host (<c>builder.Services.AddCrac()</c>).</summary>
public static class CracServiceCollectionExtensions
{
    /// <summary>
    /// Makes the host take part in checkpoints. Before a checkpoint: the web server (Kestrel, when
    /// the Crac.AspNetCore assembly is present) stops accepting and drains its requests; background
    /// work pauses (hosted services that implement <see cref="Crac.IResource"/>, and units begun
    /// with <see cref="BackgroundWork"/>); the container's <see cref="Crac.IResource"/> services run;
    /// then outbound pools close (IHttpClientFactory's connections, Npgsql data sources,
    /// StackExchange.Redis multiplexers made with <see cref="CracRedisExtensions.WithCrac"/>). After
    /// the restore, the other way round. It also logs every checkpoint through ILogger (category
    /// <c>Crac</c>), adds a Meter named <c>Crac</c> and a health check named <c>crac</c>.
    /// </summary>
    /// <param name="services">The host's services.</param>
    /// <returns>The same services.</returns>
    public static IServiceCollection AddCrac(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        if (services.Any(d => d.ServiceType == typeof(RegisteredServices)))
        {
            return services;
        }

        services.AddSingleton(new RegisteredServices(services));
        services.TryAddSingleton<HostStages>();
        services.TryAddSingleton(new BackgroundWork());
        services.TryAddSingleton<HttpConnections>();
        services.TryAddSingleton<CracMetrics>();
        services.TryAddSingleton<CheckpointLog>();
        services.AddMetrics();
        services.AddLogging();
        services.AddHealthChecks().AddCheck<CracHealthCheck>(CracHealthCheck.Name, tags: [CracHealthCheck.Name]);

        // Outbound HTTP: SocketsHttpHandler by default (a client that configures its own primary
        // handler keeps it), and every handler chain passes through HttpConnections.
        services.ConfigureHttpClientDefaults(client => client.UseSocketsHttpHandler());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHttpMessageHandlerBuilderFilter, HttpConnectionsFilter>());

        // First of the hosted services, so the host's resources are in place before the others start.
        services.Insert(0, ServiceDescriptor.Singleton<IHostedService, CracHostedService>());
        WebServerIntegration.TryAdd(services);
        return services;
    }
}
