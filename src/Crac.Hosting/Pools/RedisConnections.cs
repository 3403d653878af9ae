using System.Net;
using System.Net.Sockets;
using Crac.Coordination;
using Crac.FileDescriptors;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;
using StackExchange.Redis.Configuration;

namespace Crac.Hosting.Pools;

/// <summary>
/// StackExchange.Redis connections, through the library's own transport hook (a
/// <see cref="Tunnel"/>, which <see cref="CracRedisExtensions.WithCrac"/> installs). The tunnel
/// keeps every socket the multiplexer connects. Before a checkpoint it holds new connects and
/// closes those sockets: the multiplexer sees its connections fail, as when a server goes away,
/// and its reconnect waits in the tunnel. After the restore the held connects go on, and the
/// multiplexer reconnects and resubscribes by itself. A multiplexer made without the tunnel cannot
/// be closed safely from outside: the checkpoint fails with the fix rather than close it under the library.
/// </summary>
internal sealed class RedisConnections : IResource
{
    public const string AssemblyName = "StackExchange.Redis";

    public static readonly RedisConnections Instance = new();

    private readonly CheckpointGate _connects = new("StackExchange.Redis connects");
    private readonly Lock _lock = new();
    private readonly List<(Socket Socket, EndPoint EndPoint)> _sockets = [];
    private int _registered;

    private RedisConnections() =>
        // Status and fds count the multiplexers' sockets as closed, as a checkpoint finds them.
        FdClaims.Register(ToString(), entry => entry.Socket is { IsTcp: true } && Holds(entry.Fd));

    private bool Holds(int fd)
    {
        lock (_lock)
        {
            return _sockets.Any(s => !s.Socket.SafeHandle.IsClosed && (int)s.Socket.Handle == fd);
        }
    }

    /// <summary>The containers' multiplexers, checked at each checkpoint (added by AddCrac, removed when the host is disposed).</summary>
    private List<object> Multiplexers { get; } = [];

    public void Watch(IEnumerable<object> multiplexers)
    {
        lock (_lock)
        {
            Multiplexers.AddRange(multiplexers);
        }
    }

    public void Forget(IEnumerable<object> multiplexers)
    {
        lock (_lock)
        {
            foreach (object multiplexer in multiplexers)
            {
                Multiplexers.Remove(multiplexer);
            }
        }
    }

    internal ILogger? Logger { get; set; }

    /// <summary>The tunnel installs the resource on first use: it works with or without AddCrac.</summary>
    public void EnsureRegistered()
    {
        if (Interlocked.Exchange(ref _registered, 1) == 0)
        {
            Coordinator.Global.Outbound.Register(this, keepAlive: true);
        }
    }

    /// <summary>Inside a checkpoint a connect waits for the restore: a connection made now would be in the image.</summary>
    internal async ValueTask WaitUntilConnectsAllowedAsync(CancellationToken cancellationToken)
    {
        (await _connects.EnterAsync(cancellationToken).ConfigureAwait(false)).Dispose();
    }

    internal async ValueTask OnConnectingAsync(EndPoint endPoint, Socket? socket, CancellationToken cancellationToken)
    {
        // Normally open already (the wait was before the socket existed); closed only if a
        // checkpoint began in between.
        await WaitUntilConnectsAllowedAsync(cancellationToken).ConfigureAwait(false);
        if (socket is not null)
        {
            lock (_lock)
            {
                _sockets.RemoveAll(static s => s.Socket.SafeHandle.IsClosed);
                _sockets.Add((socket, endPoint));
            }
        }
    }

    public async Task BeforeCheckpointAsync(Context context, CancellationToken cancellationToken)
    {
        await _connects.BeforeCheckpointAsync(context, cancellationToken).ConfigureAwait(false);
        List<(Socket Socket, EndPoint EndPoint)> open;
        lock (_lock)
        {
            _sockets.RemoveAll(static s => s.Socket.SafeHandle.IsClosed);
            open = [.. _sockets];
            _sockets.Clear();
        }

        var untunnelled = new List<string>();
        object[] multiplexers;
        lock (_lock)
        {
            multiplexers = [.. Multiplexers];
        }

        foreach (object multiplexer in multiplexers)
        {
            try
            {
                CheckTunnelled(multiplexer, open, untunnelled);
            }
            catch (ObjectDisposedException)
            {
                // Its host is gone: nothing of it goes into the image.
            }
        }

        if (untunnelled.Count > 0)
        {
            throw new InvalidOperationException(
                $"StackExchange.Redis connections to {string.Join(", ", untunnelled)} were not made through dotnet-crac's tunnel, so they cannot be closed without breaking the multiplexer. " +
                "Create the multiplexer with ConnectionMultiplexer.Connect(ConfigurationOptions.Parse(configuration).WithCrac()).");
        }

        foreach ((Socket socket, EndPoint _) in open)
        {
            try
            {
                socket.Shutdown(SocketShutdown.Both);
            }
            catch (SocketException)
            {
            }
            catch (ObjectDisposedException)
            {
            }

            socket.Dispose();
        }

        if (open.Count > 0)
        {
            string description = $"StackExchange.Redis: closed {open.Count} connection(s) ({string.Join(", ", open.Select(s => s.EndPoint).Distinct().Select(Format))}); the multiplexer reconnects after the restore";
            CheckpointActions.Record("hosting", description);
            Logger?.LogInformation("Checkpoint: {Description}", description);
        }
    }

    public Task AfterRestoreAsync(Context context, CancellationToken cancellationToken) => _connects.AfterRestoreAsync(context, cancellationToken);

    private static void CheckTunnelled(object multiplexer, List<(Socket Socket, EndPoint EndPoint)> open, List<string> untunnelled)
    {
        var connections = (IConnectionMultiplexer)multiplexer;
        foreach (EndPoint endPoint in connections.GetEndPoints(configuredOnly: true))
        {
            if (connections.GetServer(endPoint).IsConnected && !open.Any(s => SameEndPoint(s.EndPoint, endPoint)))
            {
                untunnelled.Add(Format(endPoint));
            }
        }
    }

    private static bool SameEndPoint(EndPoint a, EndPoint b) => Format(a) == Format(b);

    private static string Format(EndPoint endPoint) => endPoint switch
    {
        DnsEndPoint dns => $"{dns.Host}:{dns.Port}",
        IPEndPoint ip => ip.ToString(),
        _ => endPoint.ToString() ?? "?",
    };

    /// <summary>Whether a service type is StackExchange.Redis's multiplexer (checked by name, so the library is not loaded to find out).</summary>
    public static bool IsMultiplexer(Type type) =>
        type.Assembly.GetName().Name == AssemblyName && type.FullName is "StackExchange.Redis.IConnectionMultiplexer" or "StackExchange.Redis.ConnectionMultiplexer";

    public override string ToString() => "StackExchange.Redis connections";

    /// <summary>The transport hook: every connect passes through here.</summary>
    internal sealed class CracTunnel(Tunnel? inner) : Tunnel
    {
        // Called before the library creates the socket: a reconnect held here leaves no socket in the image.
        public override async ValueTask<EndPoint?> GetSocketConnectEndpointAsync(EndPoint endpoint, CancellationToken cancellationToken)
        {
            await Instance.WaitUntilConnectsAllowedAsync(cancellationToken).ConfigureAwait(false);
            return inner is null
                ? await base.GetSocketConnectEndpointAsync(endpoint, cancellationToken).ConfigureAwait(false)
                : await inner.GetSocketConnectEndpointAsync(endpoint, cancellationToken).ConfigureAwait(false);
        }

        public override async ValueTask BeforeSocketConnectAsync(EndPoint endPoint, ConnectionType connectionType, Socket? socket, CancellationToken cancellationToken)
        {
            await Instance.OnConnectingAsync(endPoint, socket, cancellationToken).ConfigureAwait(false);
            if (inner is not null)
            {
                await inner.BeforeSocketConnectAsync(endPoint, connectionType, socket, cancellationToken).ConfigureAwait(false);
            }
        }

        public override ValueTask<Stream?> BeforeAuthenticateAsync(EndPoint endpoint, ConnectionType connectionType, Socket? socket, CancellationToken cancellationToken) =>
            inner?.BeforeAuthenticateAsync(endpoint, connectionType, socket, cancellationToken) ?? base.BeforeAuthenticateAsync(endpoint, connectionType, socket, cancellationToken);

        public override string ToString() => inner?.ToString() ?? "dotnet-crac";
    }
}
