namespace Crac.Coordination;

/// <summary>
/// The context with the global context's guarantees (jdk.crac's BlockingOrderedContext):
/// resources are held by weak reference, notified in reverse registration order before a
/// checkpoint and in forward order after the restore; every resource is notified even when
/// others throw, and one whose before-checkpoint ran (even if it threw) is notified after.
/// A context of independent resources (<paramref name="restoreConcurrently"/>: the runtime's own)
/// tells them of the restore all at once instead, and reports their failures in the same order.
/// </summary>
internal class OrderedContext(string name, bool restoreConcurrently = false) : Context
{
    private readonly object _lock = new();
    private readonly List<WeakReference<IResource>> _resources = [];
    private List<IResource>? _restoreQueue;
    private bool _checkpointing;

    public override void Register(IResource resource)
    {
        ArgumentNullException.ThrowIfNull(resource);
        lock (_lock)
        {
            CheckpointScope? scope = CheckpointScope.Current;
            if (_checkpointing && scope is { InBeforeCheckpoint: true })
            {
                // The notification pass has taken its snapshot: a resource registered now
                // would miss the checkpoint it is meant for.
                throw new InvalidOperationException(
                    $"Cannot register {ResourceInvoker.Describe(resource)} in {this} while that context is being notified of a checkpoint. " +
                    "Register it before the checkpoint starts, or from AfterRestoreAsync to be notified from the next checkpoint on.");
            }

            // Another thread registering during the checkpoint waits, like CRaC's blocking
            // context, until the restore starts. The checkpoint's own flow, now restoring, never
            // waits (it would wait for itself): its registration joins the next checkpoint.
            while (_checkpointing && scope is null)
            {
                Monitor.Wait(_lock);
            }

            _resources.RemoveAll(static reference => !reference.TryGetTarget(out _));
            _resources.Add(new WeakReference<IResource>(resource));
        }
    }

    /// <summary>The live resources, in registration order.</summary>
    internal IReadOnlyList<IResource> Snapshot()
    {
        lock (_lock)
        {
            var live = new List<IResource>(_resources.Count);
            foreach (WeakReference<IResource> reference in _resources)
            {
                if (reference.TryGetTarget(out IResource? resource))
                {
                    live.Add(resource);
                }
            }

            return live;
        }
    }

    public override async Task BeforeCheckpointAsync(Context context, CancellationToken cancellationToken)
    {
        IReadOnlyList<IResource> resources;
        lock (_lock)
        {
            _checkpointing = true;
            resources = Snapshot();
            _restoreQueue = [];
        }

        var failures = new ExceptionCollector<CheckpointException>(Aggregates.Checkpoint);
        for (int i = resources.Count - 1; i >= 0; i--)
        {
            if (CheckpointScope.Current is { TimedOut: true })
            {
                break;
            }

            bool finished = await ResourceInvoker.InvokeAsync(resources[i], this, beforeCheckpoint: true, failures.Add)
                .ConfigureAwait(false);
            if (finished)
            {
                // After-restore runs even for a resource whose before-checkpoint threw.
                _restoreQueue.Add(resources[i]);
            }
        }

        _restoreQueue.Reverse();
        failures.ThrowIfAny();
    }

    public override async Task AfterRestoreAsync(Context context, CancellationToken cancellationToken)
    {
        List<IResource>? queue;
        lock (_lock)
        {
            // Unblock waiting registrations first: they join the next checkpoint.
            _checkpointing = false;
            Monitor.PulseAll(_lock);
            queue = _restoreQueue;
            _restoreQueue = null;
        }

        if (queue is null)
        {
            return;
        }

        var failures = new ExceptionCollector<RestoreException>(Aggregates.Restore);
        if (restoreConcurrently)
        {
            var failuresOf = new List<Exception>[queue.Count];
            var calls = new Task[queue.Count];
            for (int i = 0; i < queue.Count; i++)
            {
                List<Exception> mine = failuresOf[i] = [];
                calls[i] = ResourceInvoker.InvokeAsync(queue[i], this, beforeCheckpoint: false, exception =>
                {
                    lock (mine)
                    {
                        mine.Add(exception);
                    }
                });
            }

            await Task.WhenAll(calls).ConfigureAwait(false);
            foreach (List<Exception> mine in failuresOf)
            {
                mine.ForEach(failures.Add);
            }
        }
        else
        {
            foreach (IResource resource in queue)
            {
                await ResourceInvoker.InvokeAsync(resource, this, beforeCheckpoint: false, failures.Add).ConfigureAwait(false);
            }
        }

        failures.ThrowIfAny();
    }

    public override string ToString() => name;
}
