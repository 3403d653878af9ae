namespace Crac;

/// <summary>
/// Quiesces an event loop or single-threaded scheduler, as CRaC's event-loop pattern does: before
/// a checkpoint it posts a barrier onto the loop and waits until the loop runs it, so the loop is
/// parked between two work items; the restore lets it go. Work posted meanwhile queues behind the
/// barrier and runs after the restore.
/// </summary>
/// <remarks>
/// The barrier blocks the loop's thread while it is parked, so the loop should own its thread
/// (a dedicated thread, a single-threaded <see cref="SynchronizationContext"/>). If the loop does
/// not reach the barrier before the checkpoint's deadline, the checkpoint fails with a
/// <see cref="TimeoutException"/> naming the loop, and the barrier, whenever it runs, returns at once.
/// </remarks>
/// <example>
/// <code>
/// var barrier = new CheckpointLoopBarrier("ui", item => uiContext.Post(_ => item(), null));
/// Core.GlobalContext.Register(barrier);
/// </code>
/// </example>
public sealed class CheckpointLoopBarrier : IResource
{
    private const int Pending = 0;
    private const int Parked = 1;
    private const int Abandoned = 2;

    private readonly Action<Action> _post;
    private readonly Lock _sync = new();
    private Barrier? _barrier;

    /// <summary>Creates the barrier for one loop.</summary>
    /// <param name="name">Names the loop in errors.</param>
    /// <param name="post">Queues an item to run on the loop, after what is queued already.</param>
    public CheckpointLoopBarrier(string name, Action<Action> post)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(post);
        Name = name;
        _post = post;
    }

    /// <summary>The name given at construction.</summary>
    public string Name { get; }

    /// <summary>Posts the barrier and waits until the loop is parked on it, or fails at the checkpoint's deadline.</summary>
    /// <param name="context">The context that notifies this barrier.</param>
    /// <param name="cancellationToken">The checkpoint's deadline.</param>
    /// <exception cref="TimeoutException">The loop did not reach the barrier in time; it runs on.</exception>
    public async Task BeforeCheckpointAsync(Context context, CancellationToken cancellationToken)
    {
        Barrier barrier;
        lock (_sync)
        {
            if (_barrier is not null)
            {
                return;
            }

            barrier = _barrier = new Barrier();
        }

        _post(barrier.Run);
        try
        {
            await barrier.Reached.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            if (barrier.TryAbandon())
            {
                Release(barrier);
                throw new TimeoutException(
                    $"Checkpoint loop barrier '{Name}' could not park its loop: the loop did not reach the barrier before the checkpoint's deadline " +
                    "(a work item ran too long, or too many were queued before it), and it runs on. Make work items shorter, " +
                    "or raise the checkpoint timeout (CRAC_CHECKPOINT_TIMEOUT, or --timeout).");
            }
        }
    }

    /// <summary>Lets the loop go on. Safe to call when it is not parked.</summary>
    /// <param name="context">The context that notifies this barrier.</param>
    /// <param name="cancellationToken">Not used: releasing does not wait.</param>
    public Task AfterRestoreAsync(Context context, CancellationToken cancellationToken)
    {
        Barrier? barrier;
        lock (_sync)
        {
            barrier = _barrier;
        }

        if (barrier is not null)
        {
            Release(barrier);
        }

        return Task.CompletedTask;
    }

    /// <summary>The name, as checkpoint errors show it.</summary>
    public override string ToString() => Name;

    private void Release(Barrier barrier)
    {
        lock (_sync)
        {
            if (ReferenceEquals(_barrier, barrier))
            {
                _barrier = null;
            }
        }

        barrier.Released.Set();
    }

    private sealed class Barrier
    {
        private int _state = Pending;

        public TaskCompletionSource Reached { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public ManualResetEventSlim Released { get; } = new();

        public bool TryAbandon() => Interlocked.CompareExchange(ref _state, Abandoned, Pending) == Pending;

        /// <summary>Runs on the loop: parks it until the restore, unless the checkpoint already gave up.</summary>
        public void Run()
        {
            if (Interlocked.CompareExchange(ref _state, Parked, Pending) != Pending)
            {
                return;
            }

            Reached.TrySetResult();
            Released.Wait();
        }
    }
}
