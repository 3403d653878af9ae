using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Options;

namespace Crac.AspNetCore;

/// <summary>
/// Kestrel's socket transport creates every listening socket through
/// <see cref="SocketTransportOptions.CreateBoundListenSocket"/>. Wrapping that (after the
/// application's own setting) hands the drain the socket, so that a checkpoint can stop it
/// listening while it keeps its port, instead of closing it and binding a new one after the restore.
/// </summary>
internal sealed class ListenSocketCapture : IPostConfigureOptions<SocketTransportOptions>
{
    // Set only for the duration of one bind through DrainingListenerFactory: the socket the
    // transport creates inside it is that listener's.
    private static readonly AsyncLocal<StrongBox<ListenSocket?>?> Binding = new();

    public void PostConfigure(string? name, SocketTransportOptions options)
    {
        Func<EndPoint, Socket> create = options.CreateBoundListenSocket;
        options.CreateBoundListenSocket = endpoint =>
        {
            Socket socket = create(endpoint);

            // Only a TCP port the application named keeps its port without listening: the kernel
            // gives a port it chose itself (port 0) back when the socket stops listening.
            if (Binding.Value is { } slot && endpoint is IPEndPoint { Port: not 0 } && socket.ProtocolType == ProtocolType.Tcp)
            {
                slot.Value = new ListenSocket(socket, options);
            }

            return socket;
        };
    }

    /// <summary>Binds through <paramref name="transport"/>, and says which socket it listens on when it is one the drain can keep.</summary>
    public static async ValueTask<(IConnectionListener Listener, ListenSocket? Socket)> BindAsync(IConnectionListenerFactory transport, EndPoint endpoint, CancellationToken cancellationToken)
    {
        var slot = new StrongBox<ListenSocket?>();
        Binding.Value = slot;
        IConnectionListener listener = await transport.BindAsync(endpoint, cancellationToken).ConfigureAwait(false);
        return (listener, slot.Value);
    }
}

/// <summary>A listening TCP socket that can stop listening and listen again on the port it keeps.</summary>
internal sealed class ListenSocket(Socket socket, SocketTransportOptions options)
{
    /// <summary>
    /// Stops listening (shutdown on a listening socket): connects are refused, those waiting in
    /// the backlog are reset, and the socket keeps its port. So no other socket, nor a client
    /// given that port as its own source port (a self-connection), can take it meanwhile; and
    /// CRIU dumps it as a bound socket and restores it with its port.
    /// </summary>
    public void StopListening() => socket.Shutdown(SocketShutdown.Receive);

    /// <summary>Listens again with the transport's backlog: no bind, and no new listener for Kestrel.</summary>
    public void Listen() => socket.Listen(options.Backlog);
}
