using System.Diagnostics;

namespace Crac;

/// <summary>
/// A periodic timer for a loop (<c>while (await timer.WaitForNextTickAsync(token)) { ... }</c>),
/// like <see cref="PeriodicTimer"/>, that also takes part in checkpoints: a checkpoint waits
/// until the tick being handled is done and delivers no tick until the restore; after the restore
/// the schedule starts again one period later. Missed ticks are never made up in a burst.
/// </summary>
/// <remarks>
/// <para>
/// Why not a plain timer: <see cref="PeriodicTimer"/> coalesces missed ticks, but one that fell
/// due during the checkpoint fires at once after the restore, and a checkpoint does not wait for
/// the tick being handled. A hand-written loop that keeps a fixed rate
/// (<c>next += period; await Task.Delay(next - now)</c>) fires every missed tick back to back
/// when the clock it uses has moved on. CRIU restores into a new time namespace, so the
/// monotonic clock (<see cref="Stopwatch"/>, timers) continues from the checkpoint while the wall
/// clock (<see cref="DateTime"/>) jumps by the image's age; the pause and simulate engines leave
/// the monotonic clock running through the checkpoint. This timer keeps its schedule on the
/// monotonic clock and restarts it at every restore, so neither case bursts.
/// </para>
/// <para>
/// As with <see cref="PeriodicTimer"/>, only one <see cref="WaitForNextTickAsync"/> may be
/// pending at a time. Register the timer as a resource: <c>Core.GlobalContext.Register(timer)</c>.
/// </para>
/// </remarks>
public sealed class CheckpointPeriodicTimer : IResource, IDisposable
{
    private readonly Lock _sync = new();
    private readonly CancellationTokenSource _disposed = new();
    private long _nextDue;
    private bool _inTick;
    private bool _isDisposed;
    private Pause? _pause;

    /// <summary>Creates the timer; the first tick is one period from now.</summary>
    /// <param name="period">The time between ticks.</param>
    /// <param name="name">Names the timer in errors.</param>
    public CheckpointPeriodicTimer(TimeSpan period, string name)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(period, TimeSpan.Zero);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        Period = period;
        Name = name;
        _nextDue = Stopwatch.GetTimestamp() + ToTimestamp(period);
    }

    /// <summary>The time between ticks.</summary>
    public TimeSpan Period { get; }

    /// <summary>The name given at construction.</summary>
    public string Name { get; }

    /// <summary>
    /// Waits for the next tick: true when it comes, false once the timer is disposed. Calling it
    /// again also tells a waiting checkpoint that the previous tick's work is done.
    /// </summary>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <exception cref="OperationCanceledException">The token fired.</exception>
    public async ValueTask<bool> WaitForNextTickAsync(CancellationToken cancellationToken = default)
    {
        lock (_sync)
        {
            _inTick = false;
            _pause?.Idle.TrySetResult();
        }

        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposed.Token);
        try
        {
            while (true)
            {
                Task wait;
                lock (_sync)
                {
                    if (_isDisposed)
                    {
                        return false;
                    }

                    if (_pause is { } pause)
                    {
                        wait = pause.Released.Task;
                    }
                    else
                    {
                        long now = Stopwatch.GetTimestamp();
                        if (now >= _nextDue)
                        {
                            _inTick = true;
                            _nextDue = NextDueAfter(_nextDue, now);
                            return true;
                        }

                        TimeSpan delay = Stopwatch.GetElapsedTime(now, _nextDue);
                        wait = Task.Delay(delay < TimeSpan.FromMilliseconds(1) ? TimeSpan.FromMilliseconds(1) : delay, linked.Token);
                    }
                }

                // Both waits end early enough: a restore completes Released, and a delay that
                // ends during a checkpoint finds the pause and waits again.
                await wait.WaitAsync(linked.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (_disposed.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>Waits until the tick being handled (if any) is done, then holds back ticks until the restore.</summary>
    /// <param name="context">The context that notifies this timer.</param>
    /// <param name="cancellationToken">The checkpoint's deadline.</param>
    /// <exception cref="TimeoutException">The tick being handled did not finish in time; the timer runs on.</exception>
    public async Task BeforeCheckpointAsync(Context context, CancellationToken cancellationToken)
    {
        Pause pause;
        lock (_sync)
        {
            pause = _pause ??= new Pause();
            if (!_inTick)
            {
                pause.Idle.TrySetResult();
            }
        }

        try
        {
            await pause.Idle.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            lock (_sync)
            {
                if (pause.Idle.Task.IsCompleted)
                {
                    return;
                }

                Resume(pause, restartSchedule: false);
            }

            throw new TimeoutException(
                $"Checkpoint periodic timer '{Name}' could not pause: the work of its current tick did not finish before the checkpoint's deadline, " +
                "and it runs on. Make the work of a tick shorter, or raise the checkpoint timeout (CRAC_CHECKPOINT_TIMEOUT, or --timeout).");
        }
    }

    /// <summary>Restarts the schedule (the next tick is one period from now) and lets ticks through again.</summary>
    /// <param name="context">The context that notifies this timer.</param>
    /// <param name="cancellationToken">Not used: resuming does not wait.</param>
    public Task AfterRestoreAsync(Context context, CancellationToken cancellationToken)
    {
        lock (_sync)
        {
            if (_pause is { } pause)
            {
                Resume(pause, restartSchedule: true);
            }
        }

        return Task.CompletedTask;
    }

    /// <summary>Stops the timer: a pending or later <see cref="WaitForNextTickAsync"/> returns false.</summary>
    public void Dispose()
    {
        lock (_sync)
        {
            if (_isDisposed)
            {
                return;
            }

            _isDisposed = true;
            _pause?.Idle.TrySetResult();
        }

        // Outside the lock: cancelling runs the waiting loop's continuation inline.
        _disposed.Cancel();
    }

    /// <summary>The name, as checkpoint errors show it.</summary>
    public override string ToString() => Name;

    private static long ToTimestamp(TimeSpan span) => Math.Max(1, (long)(span.TotalSeconds * Stopwatch.Frequency));

    /// <summary>The next tick on the schedule's grid after <paramref name="now"/>: ticks missed while the loop was busy are dropped, not made up.</summary>
    private long NextDueAfter(long due, long now)
    {
        long period = ToTimestamp(Period);
        long next = due + period;
        if (next <= now)
        {
            next += ((now - next) / period + 1) * period;
        }

        return next;
    }

    private void Resume(Pause pause, bool restartSchedule)
    {
        if (restartSchedule)
        {
            _nextDue = Stopwatch.GetTimestamp() + ToTimestamp(Period);
        }

        _pause = null;
        pause.Released.TrySetResult();
    }

    private sealed class Pause
    {
        public TaskCompletionSource Idle { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Released { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
