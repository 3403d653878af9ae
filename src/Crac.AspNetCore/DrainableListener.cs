using System.Net;
using Microsoft.AspNetCore.Connections;

namespace Crac.AspNetCore;

/// <summary>
/// A listener Kestrel's accept loop keeps calling. For a checkpoint it unbinds the transport's
/// listener (the listening socket closes, so a client trying to connect meanwhile is refused at
/// once rather than queued into the image) and the accept loop waits; after the restore it binds
/// the same endpoint again (the port it had, even if it was chosen by the system) and accepting goes on.
/// </summary>
internal sealed class DrainableListener : IConnectionListener
{
    private readonly IConnectionListenerFactory _transport;
    private readonly KestrelDrain _drain;
    private readonly Lock _lock = new();
    private IConnectionListener _current;
    private readonly List<IConnectionListener> _retired = [];
    private TaskCompletionSource? _resumed;
    private bool _stopped;

    public DrainableListener(IConnectionListenerFactory transport, IConnectionListener listener, KestrelDrain drain)
    {
        _transport = transport;
        _current = listener;
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
            lock (_lock)
            {
                if (_stopped)
                {
                    return null;
                }

                listener = _current;
                resumed = _resumed?.Task;
            }

            if (resumed is not null)
            {
                await resumed.WaitAsync(cancellationToken).ConfigureAwait(false);
                continue;
            }

            ConnectionContext? connection = await listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
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

    /// <summary>Stops accepting: new connections are refused until <see cref="ResumeAsync"/>.</summary>
    public async Task PauseAsync(CancellationToken cancellationToken)
    {
        IConnectionListener listener;
        lock (_lock)
        {
            if (_stopped || _resumed is not null)
            {
                return;
            }

            _resumed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            listener = _current;
            _retired.Add(listener);
        }

        await listener.UnbindAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Binds the same endpoint again and lets the accept loop go on.</summary>
    public async Task ResumeAsync(bool connectionsDrained, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (_stopped || _resumed is null)
            {
                return;
            }
        }

        try
        {
            IConnectionListener listener = await _transport.BindAsync(EndPoint, cancellationToken).ConfigureAwait(false);
            TaskCompletionSource resumed;
            lock (_lock)
            {
                _current = listener;
                resumed = _resumed!;
                _resumed = null;
            }

            resumed.TrySetResult();
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
