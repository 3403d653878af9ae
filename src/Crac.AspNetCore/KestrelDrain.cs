using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using Crac.Coordination;
using Crac.Hosting;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Net.Http.Headers;

namespace Crac.AspNetCore;

/// <summary>
/// Kestrel's part in a checkpoint. Before it: stop accepting on every endpoint, let the requests in
/// flight finish (their responses say <c>Connection: close</c>, HTTP/2 gets GOAWAY), answer a
/// request that arrives on an open connection and close that connection after it, close a
/// connection that stays idle for <see cref="IdleGrace"/>, and wait until every connection is
/// closed, within the checkpoint timeout. After the restore (or a failed checkpoint): bind the
/// same endpoints again and accept. The counts go into the checkpoint's report.
/// </summary>
internal sealed class KestrelDrain : IResource
{
    /// <summary>
    /// How long an idle keep-alive connection may stay open in a drain, waiting for a next request
    /// it can answer with <c>Connection: close</c>. Closing it at once would race a request the
    /// client is sending at that moment, which it would see reset.
    /// </summary>
    internal static readonly TimeSpan IdleGrace = TimeSpan.FromMilliseconds(500);

    private readonly HostStages _stages;
    private readonly ILogger<KestrelDrain> _logger;
    private readonly ConcurrentDictionary<TrackedConnection, byte> _connections = new(ReferenceEqualityComparer.Instance);
    private readonly Lock _lock = new();
    private readonly List<DrainableListener> _listeners = [];
    private readonly SemaphoreSlim _changed = new(0);

    // Connections that ended while the drain ran, some before the drain's own loop first saw them
    // (a request arriving while the listeners pause is answered with Connection: close at once).
    private readonly ConcurrentQueue<TrackedConnection> _closedDuringDrain = new();
    private volatile bool _draining;
    private int _registered;
    private int _drainedRequests;
    private int _requestsDuringDrain;

    private readonly ListenEarly _listenEarly;

    public KestrelDrain(HostStages stages, ILogger<KestrelDrain> logger)
    {
        _stages = stages;
        _logger = logger;
        _listenEarly = new ListenEarly(this);
    }

    public bool IsDraining => _draining;

    internal int OpenConnections => _connections.Count;

    public DrainableListener Add(IConnectionListenerFactory transport, IConnectionListener listener, ListenSocket? socket)
    {
        var drainable = new DrainableListener(transport, listener, socket, this);
        lock (_lock)
        {
            _listeners.Add(drainable);
        }

        if (Interlocked.Exchange(ref _registered, 1) == 0)
        {
            // The container keeps this singleton alive; the stage holds it weakly, and the agent's
            // tier holds the early listen weakly (this holds it).
            _stages.Requests.Register(this);
            Coordinator.Global.Agent.Register(_listenEarly);
        }

        return drainable;
    }

    /// <summary>The listeners now (a copy: one may be added or removed while a checkpoint goes through them).</summary>
    private List<DrainableListener> Listeners()
    {
        lock (_lock)
        {
            return [.. _listeners];
        }
    }

    public void Remove(DrainableListener listener)
    {
        lock (_lock)
        {
            _listeners.Remove(listener);
        }
    }

    public void Track(ConnectionContext connection)
    {
        var tracked = new TrackedConnection(connection, Stopwatch.GetTimestamp());
        connection.Features.Set(tracked);
        _connections.TryAdd(tracked, 0);
        connection.ConnectionClosed.Register(static state =>
        {
            (KestrelDrain drain, TrackedConnection closed) = ((KestrelDrain, TrackedConnection))state!;
            drain._connections.TryRemove(closed, out _);
            if (drain._draining)
            {
                drain._closedDuringDrain.Enqueue(closed);
            }

            drain._changed.Release();
        }, (this, tracked));
    }

    public void OnRequestDuringDrain(TrackedConnection connection, HttpContext context)
    {
        Interlocked.Increment(ref _requestsDuringDrain);
        if (!HttpProtocol.IsHttp2(context.Request.Protocol) && !HttpProtocol.IsHttp3(context.Request.Protocol) && !context.Response.HasStarted)
        {
            context.Response.Headers[HeaderNames.Connection] = "close";
        }

        connection.RequestClose(CloseKind.AfterResponse);
    }

    public async Task BeforeCheckpointAsync(Context context, CancellationToken cancellationToken)
    {
        long started = Stopwatch.GetTimestamp();
        _requestsDuringDrain = 0;
        _closedDuringDrain.Clear();
        _draining = true;
        List<DrainableListener> listeners = Listeners();

        foreach (DrainableListener listener in listeners)
        {
            await listener.PauseAsync(cancellationToken).ConfigureAwait(false);
        }

        _logger.LogInformation("Checkpoint: Kestrel stopped accepting on {Endpoints}; draining {Connections} connection(s)", string.Join(", ", listeners.Select(l => l.Display)), _connections.Count);
        int inFlightAtStart = 0;
        var closed = new Dictionary<CloseKind, int>();
        var all = new HashSet<TrackedConnection>(_connections.Keys, ReferenceEqualityComparer.Instance);
        try
        {
            while (true)
            {
                long now = Stopwatch.GetTimestamp();
                foreach (TrackedConnection connection in _connections.Keys)
                {
                    all.Add(connection);
                    int inFlight = connection.RequestsInFlight;
                    if (connection.ClosedBy != CloseKind.None)
                    {
                        continue;
                    }

                    if (inFlight > 0)
                    {
                        inFlightAtStart += inFlight;
                        connection.RequestClose(connection.IsHttp2 ? CloseKind.GoAway : CloseKind.AfterResponse);
                    }
                    else if (connection.IsHttp2)
                    {
                        connection.RequestClose(CloseKind.GoAway);
                    }
                    else if (Stopwatch.GetElapsedTime(Math.Max(connection.LastActive, started), now) >= IdleGrace)
                    {
                        connection.RequestClose(CloseKind.Idle);
                    }
                }

                if (_connections.IsEmpty)
                {
                    break;
                }

                // Woken by a connection closing, or at the latest when an idle one's grace ends.
                await _changed.WaitAsync(TimeSpan.FromMilliseconds(50), cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            int requests = _connections.Keys.Sum(c => c.RequestsInFlight);
            throw new TimeoutException(string.Create(CultureInfo.InvariantCulture,
                $"Kestrel could not drain in time: {_connections.Count} connection(s) still open, {requests} request(s) still in flight at the checkpoint timeout. The server accepts again and the requests go on. Raise the timeout (--timeout), or make long requests end sooner."));
        }

        all.UnionWith(_closedDuringDrain);
        _closedDuringDrain.Clear(); // counted: the connections need not stay referenced until the next drain
        foreach (TrackedConnection connection in all)
        {
            CloseKind kind = connection.ClosedBy;
            closed[kind] = closed.GetValueOrDefault(kind) + 1;
        }

        int drained = inFlightAtStart + _requestsDuringDrain;
        Interlocked.Add(ref _drainedRequests, drained);
        string description = string.Create(CultureInfo.InvariantCulture,
            $"stopped accepting on {string.Join(", ", listeners.Select(l => l.Display))}; drained {drained} request(s) ({inFlightAtStart} in flight, {_requestsDuringDrain} arriving on open connections); closed {all.Count} connection(s) ({closed.GetValueOrDefault(CloseKind.AfterResponse)} after a response with Connection: close, {closed.GetValueOrDefault(CloseKind.Idle)} idle, {closed.GetValueOrDefault(CloseKind.GoAway)} HTTP/2 with GOAWAY, {closed.GetValueOrDefault(CloseKind.None)} by the client) in {Stopwatch.GetElapsedTime(started).TotalMilliseconds:0} ms");
        CheckpointActions.Record("kestrel", description);
        _logger.LogInformation("Checkpoint: {Description}", description);
    }

    public async Task AfterRestoreAsync(Context context, CancellationToken cancellationToken)
    {
        _draining = false;
        List<DrainableListener> listeners = Listeners();

        var failures = new ExceptionCollector<RestoreException>(Aggregates.Restore);
        foreach (DrainableListener listener in listeners)
        {
            try
            {
                await listener.ResumeAsync(_connections.IsEmpty, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception exception)
            {
                failures.Add(new InvalidOperationException($"Kestrel could not listen on {listener.Display} again: {exception.Message}", exception));
            }
        }

        failures.ThrowIfAny();
        _logger.LogInformation("Restore: Kestrel accepts again on {Endpoints}", string.Join(", ", listeners.Select(l => l.Display)));
    }

    public override string ToString() => "Kestrel (stops accepting and drains its requests)";

    /// <summary>
    /// In the runtime's tier, the first to hear of a restore: the sockets that kept their ports
    /// listen again at once, so that clients connecting during the rest of the restore wait in the
    /// backlog rather than being refused. Kestrel accepts them once the whole restore is done.
    /// </summary>
    private sealed class ListenEarly(KestrelDrain drain) : IResource
    {
        public Task BeforeCheckpointAsync(Context context, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task AfterRestoreAsync(Context context, CancellationToken cancellationToken)
        {
            foreach (DrainableListener listener in drain.Listeners())
            {
                try
                {
                    listener.ListenAgain();
                }
                catch (SocketException)
                {
                    // Kestrel's resume listens again and reports it (once).
                }
            }

            return Task.CompletedTask;
        }

        public override string ToString() => "Kestrel's listening sockets (listen again early in a restore; accepting waits for its end)";
    }
}
