namespace Crac;

/// <summary>
/// Quiesces a known set of workers that come round periodically, as CRaC's Phaser pattern does:
/// each worker calls <see cref="Worker.SafePoint"/> (or <see cref="Worker.SafePointAsync"/>) at
/// the top of every iteration, where it holds nothing that matters to a checkpoint. A checkpoint
/// waits until every registered worker has reached its next safe point and keeps them parked
/// there until the restore.
/// </summary>
/// <remarks>
/// Between checkpoints a safe point costs one volatile read. A worker that registers while a
/// checkpoint is under way counts as parked: its first safe point, which must come before its
/// first unit of work, waits for the restore. If some worker does not arrive before the
/// checkpoint's deadline, the checkpoint fails with a <see cref="TimeoutException"/> naming the
/// phaser and how many did not arrive, and the parked workers are let go.
/// </remarks>
public sealed class CheckpointPhaser : IResource
{
    private readonly Lock _sync = new();
    private Round? _round;
    private int _registered;

    /// <summary>Creates a phaser with no workers.</summary>
    /// <param name="name">Names the phaser in errors.</param>
    public CheckpointPhaser(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        Name = name;
    }

    /// <summary>The name given at construction.</summary>
    public string Name { get; }

    /// <summary>Registers a worker; dispose it when the worker stops for good.</summary>
    public Worker Register()
    {
        var worker = new Worker(this);
        lock (_sync)
        {
            _registered++;
            if (_round is { } round)
            {
                // It has done no work yet: it is at a safe point by definition.
                worker.ArrivedIn = round;
                round.Arrived++;
            }
        }

        return worker;
    }

    /// <summary>Waits until every registered worker is parked at a safe point, or fails at the checkpoint's deadline.</summary>
    /// <param name="context">The context that notifies this phaser.</param>
    /// <param name="cancellationToken">The checkpoint's deadline.</param>
    /// <exception cref="TimeoutException">Some worker did not reach a safe point in time; the others are let go.</exception>
    public async Task BeforeCheckpointAsync(Context context, CancellationToken cancellationToken)
    {
        Round round;
        lock (_sync)
        {
            round = _round ??= new Round();
            CompleteIfAllArrived(round);
        }

        try
        {
            await round.AllArrived.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            int missing, registered;
            lock (_sync)
            {
                if (round.AllArrived.Task.IsCompleted)
                {
                    return;
                }

                missing = _registered - round.Arrived;
                registered = _registered;
                Release(round);
            }

            throw new TimeoutException(
                $"Checkpoint phaser '{Name}' could not park its workers: {missing} of {registered} did not reach a safe point before the " +
                "checkpoint's deadline, and the others are running again. Make each iteration between safe points shorter, " +
                "or raise the checkpoint timeout (CRAC_CHECKPOINT_TIMEOUT, or --timeout).");
        }
    }

    /// <summary>Lets the parked workers go. Safe to call when none are parked.</summary>
    /// <param name="context">The context that notifies this phaser.</param>
    /// <param name="cancellationToken">Not used: releasing does not wait.</param>
    public Task AfterRestoreAsync(Context context, CancellationToken cancellationToken)
    {
        lock (_sync)
        {
            if (_round is { } round)
            {
                Release(round);
            }
        }

        return Task.CompletedTask;
    }

    /// <summary>The name, as checkpoint errors show it.</summary>
    public override string ToString() => Name;

    private void Release(Round round)
    {
        if (ReferenceEquals(_round, round))
        {
            _round = null;
        }

        round.Released.TrySetResult();
    }

    private void CompleteIfAllArrived(Round round)
    {
        if (round.Arrived >= _registered)
        {
            round.AllArrived.TrySetResult();
        }
    }

    /// <returns>The round to wait for, or null when no checkpoint is under way.</returns>
    private Round? Arrive(Worker worker)
    {
        lock (_sync)
        {
            if (worker.Left)
            {
                throw new ObjectDisposedException(nameof(Worker), $"This worker left checkpoint phaser '{Name}'.");
            }

            if (_round is not { } round)
            {
                return null;
            }

            if (!ReferenceEquals(worker.ArrivedIn, round))
            {
                worker.ArrivedIn = round;
                round.Arrived++;
                CompleteIfAllArrived(round);
            }

            return round;
        }
    }

    private void Leave(Worker worker)
    {
        lock (_sync)
        {
            if (worker.Left)
            {
                return;
            }

            worker.Left = true;
            _registered--;
            if (_round is { } round)
            {
                if (ReferenceEquals(worker.ArrivedIn, round))
                {
                    round.Arrived--;
                }

                CompleteIfAllArrived(round);
            }
        }
    }

    /// <summary>A registered worker of a <see cref="CheckpointPhaser"/>.</summary>
    public sealed class Worker : IDisposable
    {
        private readonly CheckpointPhaser _phaser;

        internal Worker(CheckpointPhaser phaser) => _phaser = phaser;

        // Both guarded by the phaser's lock.
        internal Round? ArrivedIn { get; set; }

        internal bool Left { get; set; }

        /// <summary>
        /// Marks a safe point: returns at once unless a checkpoint is under way, in which case it
        /// parks here until the restore. Call it before each unit of work.
        /// </summary>
        /// <param name="cancellationToken">Stops waiting; the worker then leaves the phaser, as <see cref="Dispose"/> does.</param>
        /// <exception cref="OperationCanceledException">The token fired while parked.</exception>
        public void SafePoint(CancellationToken cancellationToken = default)
        {
            while (Volatile.Read(ref _phaser._round) is not null && _phaser.Arrive(this) is { } round)
            {
                try
                {
                    round.Released.Task.Wait(cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    Dispose();
                    throw;
                }
            }
        }

        /// <summary>The asynchronous form of <see cref="SafePoint"/>: completes synchronously unless a checkpoint is under way.</summary>
        /// <param name="cancellationToken">Stops waiting; the worker then leaves the phaser, as <see cref="Dispose"/> does.</param>
        /// <exception cref="OperationCanceledException">The token fired while parked.</exception>
        public ValueTask SafePointAsync(CancellationToken cancellationToken = default) =>
            Volatile.Read(ref _phaser._round) is null ? ValueTask.CompletedTask : ParkAsync(cancellationToken);

        /// <summary>Leaves the phaser: checkpoints no longer wait for this worker.</summary>
        public void Dispose() => _phaser.Leave(this);

        private async ValueTask ParkAsync(CancellationToken cancellationToken)
        {
            while (_phaser.Arrive(this) is { } round)
            {
                try
                {
                    await round.Released.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    Dispose();
                    throw;
                }
            }
        }
    }

    internal sealed class Round
    {
        public TaskCompletionSource AllArrived { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Released { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Guarded by the phaser's lock.</summary>
        public int Arrived { get; set; }
    }
}
