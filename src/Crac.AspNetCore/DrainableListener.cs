using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;

namespace Crac.AspNetCore;

/// <summary>
/// A listener Kestrel's accept loop keeps calling. For a checkpoint it stops listening, so that a
/// client trying to connect meanwhile is refused at once rather than queued into the image, and
/// the accept loop waits; after the restore it listens again and accepting goes on.
/// A TCP socket on a port the application named stops listening but keeps its port (see
/// <see cref="ListenSocket"/>), so nothing can take the port before the restore and Kestrel keeps
/// its listener. Any other listener (a port the system chose, another transport) is unbound, and
/// the same endpoint (the port it had) is bound again after the restore.
/// </summary>
internal sealed class DrainableListener : IConnectionListener
{
    private readonly IConnectionListenerFactory _transport;
    private readonly ListenSocket? _socket;
    private readonly KestrelDrain _drain;
    private readonly Lock _lock = new();
    private IConnectionListener _current;
    private readonly List<IConnectionListener> _retired = [];
    private TaskCompletionSource? _resumed;

    // Cancels the accept that is waiting when the socket stops listening (a waiting accept would
    // otherwise fail over and over on a socket that is not listening).
    private CancellationTokenSource _pausing = new();
    private KeptSocket _kept;
    private bool _stopped;

    public DrainableListener(IConnectionListenerFactory transport, IConnectionListener listener, ListenSocket? socket, KestrelDrain drain)
    {
        _transport = transport;
        _current = listener;
        _socket = socket;
        _drain = drain;
        EndPoint = listener.EndPoint;
    }

    /// <summary>The endpoint as bound (with the port the system chose, if it chose one): what a restore binds again.</summary>
    public EndPoint EndPoint { get; }

    public string Display => EndPoint.ToString() ?? "?";

    public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            IConnectionListener listener;
            Task? resumed;
            CancellationToken pausing;
            lock (_lock)
            {
                if (_stopped)
                {
                    return null;
                }

                listener = _current;
                resumed = _resumed?.Task;
                pausing = _pausing.Token;
            }

            if (resumed is not null)
            {
                await resumed.WaitAsync(cancellationToken).ConfigureAwait(false);
                continue;
            }

            ConnectionContext? connection;
            try
            {
                connection = await AcceptAsync(listener, pausing, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (pausing.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                continue; // paused for a checkpoint: wait for the restore
            }

            if (connection is not null)
            {
                _drain.Track(connection);
                return connection;
            }

            lock (_lock)
            {
                // Null from a listener we unbound for a checkpoint: wait for the restore. From
                // Kestrel's own unbind (shutdown), or a transport that stopped: the loop ends.
                if (_stopped || (_resumed is null && ReferenceEquals(listener, _current)))
                {
                    return null;
                }
            }
        }
    }

    private static async ValueTask<ConnectionContext?> AcceptAsync(IConnectionListener listener, CancellationToken pausing, CancellationToken cancellationToken)
    {
        if (!cancellationToken.CanBeCanceled)
        {
            return await listener.AcceptAsync(pausing).ConfigureAwait(false); // Kestrel's loop passes none: no linked source per accept
        }

        using var either = CancellationTokenSource.CreateLinkedTokenSource(pausing, cancellationToken);
        return await listener.AcceptAsync(either.Token).ConfigureAwait(false);
    }

    /// <summary>Stops accepting: new connections are refused until <see cref="ResumeAsync"/>.</summary>
    public async Task PauseAsync(CancellationToken cancellationToken)
    {
        IConnectionListener listener;
        CancellationTokenSource pausing;
        lock (_lock)
        {
            if (_stopped || _resumed is not null)
            {
                return;
            }

            _resumed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            listener = _current;
            pausing = _pausing;
        }

        if (_socket is not null)
        {
            // The waiting accept ends first (a connection it already took is kept and drained).
            await pausing.CancelAsync().ConfigureAwait(false);
            try
            {
                _socket.StopListening();
                _kept = KeptSocket.NotListening;
                return;
            }
            catch (SocketException)
            {
                // Not a socket that can stop listening this way: unbind it, as any other listener.
            }
        }

        lock (_lock)
        {
            _retired.Add(listener);
        }

        await listener.UnbindAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Early in a restore: a socket that kept its port listens again, but nothing is accepted yet,
    /// so a client connecting while the rest of the restore runs waits in the backlog instead of
    /// being refused, and is served once <see cref="ResumeAsync"/> runs.
    /// </summary>
    public void ListenAgain()
    {
        if (_kept == KeptSocket.NotListening)
        {
            _socket!.Listen();
            _kept = KeptSocket.ListeningAgain;
        }
    }

    /// <summary>Listens again (binding the same endpoint again, if it was unbound) and lets the accept loop go on.</summary>
    public async Task ResumeAsync(bool connectionsDrained, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (_stopped || _resumed is null)
            {
                return;
            }
        }

        if (_kept != KeptSocket.None)
        {
            ListenAgain();
            _kept = KeptSocket.None;
            Resumed(_current);
            return;
        }

        try
        {
            Resumed(await _transport.BindAsync(EndPoint, cancellationToken).ConfigureAwait(false));
        }
        finally
        {
            if (connectionsDrained)
            {
                // The old listener's resources (its memory pool) serve its connections: freed only once
                // those are gone, and after accepting goes on, so that a restored server answers first
                // (the disposal took 1.1-1.5 ms of a restore's path to its first response, measured).
                await DisposeRetiredAsync().ConfigureAwait(false);
            }
        }
    }

    private void Resumed(IConnectionListener listener)
    {
        TaskCompletionSource resumed;
        lock (_lock)
        {
            _current = listener;
            resumed = _resumed!;
            _resumed = null;
            if (_pausing.IsCancellationRequested)
            {
                // Not disposed: an accept loop may still hold its (cancelled) token; it has no timer to free.
                _pausing = new CancellationTokenSource();
            }
        }

        resumed.TrySetResult();
    }

    public async ValueTask UnbindAsync(CancellationToken cancellationToken = default)
    {
        IConnectionListener listener;
        TaskCompletionSource? resumed;
        lock (_lock)
        {
            _stopped = true;
            listener = _current;
            resumed = _resumed;
        }

        // An accept loop waiting for a restore ends now (it sees _stopped).
        resumed?.TrySetResult();
        await listener.UnbindAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        IConnectionListener listener;
        lock (_lock)
        {
            _stopped = true;
            listener = _current;
        }

        _drain.Remove(this);
        await listener.DisposeAsync().ConfigureAwait(false);
        await DisposeRetiredAsync().ConfigureAwait(false);
    }

    private async Task DisposeRetiredAsync()
    {
        List<IConnectionListener> retired;
        lock (_lock)
        {
            retired = [.. _retired];
            _retired.Clear();
        }

        foreach (IConnectionListener listener in retired)
        {
            await listener.DisposeAsync().ConfigureAwait(false);
        }
    }
}

/// <summary>Where a kept socket is between a checkpoint's pause and Kestrel's resume (set and read in the checkpoint's order).</summary>
internal enum KeptSocket
{
    /// <summary>Not paused, or paused by unbinding.</summary>
    None,

    /// <summary>Paused: it keeps its port and refuses connects.</summary>
    NotListening,

    /// <summary>Listening again early in the restore; Kestrel does not accept yet.</summary>
    ListeningAgain,
}
