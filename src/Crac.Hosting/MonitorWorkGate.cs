namespace Crac.Hosting;

/// <summary>An <see cref="IWorkGate"/> with one lock: correct and simple, and cheap next to the units of work it guards (requests to other services, background jobs).</summary>
internal sealed class MonitorWorkGate : IWorkGate
{
    private readonly Lock _lock = new();
    private int _running;
    private TaskCompletionSource? _opened;
    private TaskCompletionSource? _drained;

    public int Running
    {
        get
        {
            lock (_lock)
            {
                return _running;
            }
        }
    }

    public bool IsClosed
    {
        get
        {
            lock (_lock)
            {
                return _opened is not null;
            }
        }
    }

    public ValueTask EnterAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (_opened is null)
            {
                _running++;
                return ValueTask.CompletedTask;
            }
        }

        return EnterWhenOpenAsync(cancellationToken);
    }

    private async ValueTask EnterWhenOpenAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            Task opened;
            lock (_lock)
            {
                if (_opened is null)
                {
                    _running++;
                    return;
                }

                opened = _opened.Task;
            }

            await opened.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public void Exit()
    {
        TaskCompletionSource? drained = null;
        lock (_lock)
        {
            if (_running == 0)
            {
                throw new InvalidOperationException("A unit of work ended that never began (BackgroundWork.Scope disposed twice?).");
            }

            if (--_running == 0 && _drained is not null)
            {
                drained = _drained;
                _drained = null;
            }
        }

        drained?.TrySetResult();
    }

    public async Task CloseAsync(CancellationToken cancellationToken)
    {
        Task drained;
        lock (_lock)
        {
            _opened ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            if (_running == 0)
            {
                return;
            }

            _drained ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            drained = _drained.Task;
        }

        try
        {
            await drained.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // A checkpoint that cannot wait any longer fails; the work it held back goes on.
            Open();
            throw;
        }
    }

    public void Open()
    {
        TaskCompletionSource? opened;
        lock (_lock)
        {
            opened = _opened;
            _opened = null;
        }

        opened?.TrySetResult();
    }
}
