using Crac.Hosting;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Crac.AspNetCore;

/// <summary>
/// Registers Kestrel's part in a checkpoint. Called by <c>AddCrac()</c> and, for an unmodified
/// application, by the agent once every other service is registered.
/// </summary>
internal static class KestrelIntegration
{
    /// <summary>
    /// Adds the transport that can stop accepting, last (Kestrel binds with the transport
    /// registered last that can bind the endpoint; a second call moves it last again), the hook on
    /// the socket transport that lets a listening socket keep its port through a checkpoint, and
    /// the middleware that counts requests. Safe to call more than once.
    /// </summary>
    public static void Register(IServiceCollection services)
    {
        services.TryAddSingleton<HostStages>();
        services.TryAddSingleton<KestrelDrain>();
        for (int i = services.Count - 1; i >= 0; i--)
        {
            if (services[i].ServiceType == typeof(IConnectionListenerFactory) && services[i].ImplementationType == typeof(DrainingListenerFactory))
            {
                services.RemoveAt(i);
            }
        }

        services.AddSingleton<IConnectionListenerFactory, DrainingListenerFactory>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IPostConfigureOptions<SocketTransportOptions>, ListenSocketCapture>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IStartupFilter, RequestTrackingStartupFilter>());
    }
}
