using System.Diagnostics;
using System.Net.Sockets;
using Crac.Coordination;
using Crac.FileDescriptors;
using Microsoft.Extensions.Http;
using Microsoft.Extensions.Logging;

namespace Crac.Hosting.Pools;

/// <summary>
/// The pooled connections of the HttpClients that IHttpClientFactory builds. Every handler chain
/// gets an outermost handler that counts requests in flight and holds new ones during a checkpoint,
/// and its SocketsHttpHandler connects through a callback that keeps each connection's socket.
/// Before a checkpoint, once the requests in flight are done, every kept connection is closed:
/// the handler discards a closed pooled connection and opens a new one for the next request, as it
/// does when a server closes an idle keep-alive connection. After the restore, held requests go on.
/// </summary>
internal sealed class HttpConnections : IResource, IDisposable
{
    private readonly ILogger<HttpConnections> logger;

    // Status and fds count the pooled connections as closed, as a checkpoint finds them.
    private readonly IDisposable _claim;

    public HttpConnections(ILogger<HttpConnections> logger)
    {
        this.logger = logger;
        _claim = FdClaims.Register(ToString(), entry => entry.Socket is { IsTcp: true } && Holds(entry.Fd));
    }

    private readonly CheckpointGate _requests = new("outgoing HTTP requests (IHttpClientFactory)");
    private readonly Lock _lock = new();
    private readonly List<Connection> _connections = [];
    private readonly HashSet<string> _untracked = [];

    public void Dispose() => _claim.Dispose();

    private bool Holds(int fd)
    {
        lock (_lock)
        {
            return _connections.Any(c => c.Fd == fd && !c.IsClosed);
        }
    }

    internal int LiveConnections
    {
        get
        {
            lock (_lock)
            {
                _connections.RemoveAll(static c => c.IsClosed);
                return _connections.Count;
            }
        }
    }

    /// <summary>Takes part in one handler chain, after the application's own configuration of it.</summary>
    public void Configure(HttpMessageHandlerBuilder builder)
    {
        builder.AdditionalHandlers.Insert(0, new RequestGate(_requests));
        if (builder.PrimaryHandler is SocketsHttpHandler sockets)
        {
            Track(sockets);
            return;
        }

        lock (_lock)
        {
            if (!_untracked.Add(builder.Name ?? string.Empty))
            {
                return;
            }
        }

        logger.LogWarning(
            "HttpClient '{Name}' uses a primary handler of type {Type}: dotnet-crac cannot close its pooled connections before a checkpoint. Use SocketsHttpHandler (the default under AddCrac), or close them in a resource of your own.",
            builder.Name, builder.PrimaryHandler?.GetType().FullName);
    }

    private void Track(SocketsHttpHandler handler)
    {
        Func<SocketsHttpConnectionContext, CancellationToken, ValueTask<Stream>>? connect = handler.ConnectCallback;
        handler.ConnectCallback = async (context, cancellationToken) =>
        {
            Stream stream = connect is null ? await ConnectAsync(context, cancellationToken).ConfigureAwait(false) : await connect(context, cancellationToken).ConfigureAwait(false);
            lock (_lock)
            {
                _connections.RemoveAll(static c => c.IsClosed);
                _connections.Add(new Connection(stream, $"{context.DnsEndPoint.Host}:{context.DnsEndPoint.Port}"));
            }

            return stream;
        };
    }

    /// <summary>What SocketsHttpHandler does without a callback: a dual-mode TCP socket, no Nagle, connected to the first address that answers.</summary>
    private static async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(context.DnsEndPoint, cancellationToken).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public async Task BeforeCheckpointAsync(Context context, CancellationToken cancellationToken)
    {
        // The requests in flight finish first (their connections cannot be closed under them);
        // new ones wait for the restore.
        long started = Stopwatch.GetTimestamp();
        await _requests.BeforeCheckpointAsync(context, cancellationToken).ConfigureAwait(false);

        List<Connection> open;
        lock (_lock)
        {
            _connections.RemoveAll(static c => c.IsClosed);
            open = [.. _connections];
            _connections.Clear();
        }

        foreach (Connection connection in open)
        {
            connection.Close();
        }

        if (open.Count > 0)
        {
            string description = string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"HttpClient: requests in flight finished ({Stopwatch.GetElapsedTime(started).TotalMilliseconds:0} ms), {open.Count} pooled connection(s) closed ({string.Join(", ", open.GroupBy(c => c.Peer).Select(g => $"{g.Count()} to {g.Key}"))}); new requests wait for the restore");
            CheckpointActions.Record("hosting", description);
            logger.LogInformation("Checkpoint: {Description}", description);
        }
    }

    public Task AfterRestoreAsync(Context context, CancellationToken cancellationToken) => _requests.AfterRestoreAsync(context, cancellationToken);

    public override string ToString() => "IHttpClientFactory's pooled connections";

    private sealed class Connection(Stream stream, string peer)
    {
        public string Peer { get; } = peer;

        /// <summary>The socket's descriptor, or -1 for a stream that is not a socket's.</summary>
        public int Fd { get; } = stream is NetworkStream network ? (int)network.Socket.Handle : -1;

        // A NetworkStream's socket says when the handler has closed the connection itself.
        public bool IsClosed => stream is NetworkStream network && network.Socket.SafeHandle.IsClosed;

        public void Close()
        {
            try
            {
                if (stream is NetworkStream network)
                {
                    // A shutdown first: the peer sees an orderly close, not a reset.
                    network.Socket.Shutdown(SocketShutdown.Both);
                }
            }
            catch (SocketException)
            {
            }
            catch (ObjectDisposedException)
            {
            }

            stream.Dispose();
        }
    }

    /// <summary>The outermost handler of a chain: counts requests in flight, and holds new ones during a checkpoint.</summary>
    private sealed class RequestGate(CheckpointGate gate) : DelegatingHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            using (await gate.EnterAsync(cancellationToken).ConfigureAwait(false))
            {
                return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
            }
        }

        protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            using (gate.Enter(cancellationToken))
            {
                return base.Send(request, cancellationToken);
            }
        }
    }
}

/// <summary>Applies <see cref="HttpConnections"/> to every handler chain the factory builds, after the application's own configuration.</summary>
internal sealed class HttpConnectionsFilter(HttpConnections connections) : IHttpMessageHandlerBuilderFilter
{
    public Action<HttpMessageHandlerBuilder> Configure(Action<HttpMessageHandlerBuilder> next) => builder =>
    {
        next(builder);
        connections.Configure(builder);
    };
}
