using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;

namespace Crac.AspNetCore;

/// <summary>
/// Stands in front of the transport Kestrel would have used (sockets, or whatever the application
/// registered): it binds through that transport and hands Kestrel a listener that can stop
/// accepting for a checkpoint and bind again after the restore.
/// </summary>
internal sealed class DrainingListenerFactory(IServiceProvider services, KestrelDrain drain) : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    public bool CanBind(EndPoint endpoint) => FindTransport(endpoint) is not null;

    public async ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        IConnectionListenerFactory transport = FindTransport(endpoint)
            ?? throw new InvalidOperationException($"No registered {nameof(IConnectionListenerFactory)} supports endpoint: {endpoint}");
        (IConnectionListener listener, ListenSocket? socket) = await ListenSocketCapture.BindAsync(transport, endpoint, cancellationToken).ConfigureAwait(false);
        return drain.Add(transport, listener, socket);
    }

    /// <summary>The transport Kestrel would have chosen without us: the last registered one that can bind the endpoint.</summary>
    private IConnectionListenerFactory? FindTransport(EndPoint endpoint) =>
        services.GetServices<IConnectionListenerFactory>()
            .Where(factory => factory is not DrainingListenerFactory)
            .Reverse()
            .FirstOrDefault(factory => factory is not IConnectionListenerFactorySelector selector || selector.CanBind(endpoint));
}
