using System.Collections.Concurrent;
using System.Diagnostics;

namespace Crac.Tests.Lifecycle;

[TestClass]
public sealed class CheckpointPeriodicTimerTests
{
    private static readonly TimeSpan Period = TimeSpan.FromMilliseconds(50);

    // The checkpoint lasts eight periods (the monotonic clock runs through it on the simulate
    // engine, as on the pause engine): a schedule that catches up would fire eight ticks at once.
    private static readonly TimeSpan LongCheckpoint = 8 * Period;

    [TestInitialize]
    public void Initialize() => Simulate.CollectGarbage();

    [TestMethod]
    public void AfterALongCheckpointTheScheduleRestartsWithoutABurstAndNoTickFallsInTheWindow()
    {
        using var timer = new CheckpointPeriodicTimer(Period, "metrics");
        // The simulate engine does not freeze the process: the control loop is frozen by hand.
        using var thawed = new ManualResetEventSlim(initialState: true);
        var window = new WindowClock(LongCheckpoint, thawed);
        Core.GlobalContext.Register(window);
        Core.GlobalContext.Register(timer);
        // After-restore in registration order: this one runs just after the timer resumed.
        var resumed = new WindowClock(TimeSpan.Zero);
        Core.GlobalContext.Register(resumed);
        var ticks = new ConcurrentQueue<long>();
        using var stop = new CancellationTokenSource();
        Task loop = Task.Run(async () =>
        {
            while (await timer.WaitForNextTickAsync(stop.Token))
            {
                ticks.Enqueue(Stopwatch.GetTimestamp());
            }
        });
        // A fixed-rate loop that catches up, the hazard, frozen through the same checkpoint: the control.
        var naiveTicks = new ConcurrentQueue<long>();
        Task naive = Dedicated.Run(() =>
        {
            long next = Stopwatch.GetTimestamp();
            while (!stop.IsCancellationRequested)
            {
                thawed.Wait();
                next += (long)(Period.TotalSeconds * Stopwatch.Frequency);
                TimeSpan delay = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), next);
                if (delay > TimeSpan.Zero)
                {
                    Thread.Sleep(delay);
                }

                naiveTicks.Enqueue(Stopwatch.GetTimestamp());
            }
        });
        Thread.Sleep(4 * Period);

        Simulate.Checkpoint(timeout: TimeSpan.FromSeconds(5));
        Thread.Sleep(3 * Period);
        stop.Cancel();
        Assert.ThrowsExactly<TaskCanceledException>(() => loop.GetAwaiter().GetResult());
        naive.GetAwaiter().GetResult();

        long restoredAt = resumed.AfterRestoreAt;
        Assert.IsFalse(ticks.Any(t => t > window.BeforeCheckpointAt && t < restoredAt), "a tick fell inside the checkpoint");
        long[] after = [.. ticks.Where(t => t >= restoredAt)];
        Assert.IsTrue(after.Length > 0, "the timer ticks again after the restore");
        TimeSpan firstAfter = Stopwatch.GetElapsedTime(restoredAt, after[0]);
        Assert.IsTrue(firstAfter >= 0.8 * Period, $"the first tick came {firstAfter.TotalMilliseconds:0} ms after the restore: the schedule did not restart");
        Assert.IsTrue(after.Count(t => t < restoredAt + (long)(1.5 * Period.TotalSeconds * Stopwatch.Frequency)) <= 1, "a burst after the restore");
        int naiveBurst = naiveTicks.Count(t => t >= restoredAt - (long)(0.2 * Period.TotalSeconds * Stopwatch.Frequency) && t < restoredAt + (long)(Period.TotalSeconds * Stopwatch.Frequency / 2));
        Assert.IsTrue(naiveBurst >= 4, $"the control should burst, it fired {naiveBurst} ticks at once: the test is not exercising the hazard");
        GC.KeepAlive(new object[] { window, resumed });
    }

    [TestMethod]
    public void TheCheckpointWaitsForTheTickBeingHandledAndTimesOutByNameWhenItOverruns()
    {
        using var timer = new CheckpointPeriodicTimer(TimeSpan.FromMilliseconds(20), "reports");
        var window = new WindowClock(TimeSpan.Zero);
        Core.GlobalContext.Register(window);
        Core.GlobalContext.Register(timer);
        // One duration per tick, taken by the loop: 300 ms for the first, 1 ms after that unless the test says otherwise.
        var tickWork = new ConcurrentQueue<TimeSpan>([TimeSpan.FromMilliseconds(300)]);
        using var inTick = new ManualResetEventSlim();
        long tickEndedAt = 0;
        using var stop = new CancellationTokenSource();
        Task loop = Task.Run(async () =>
        {
            while (await timer.WaitForNextTickAsync(stop.Token))
            {
                TimeSpan work = tickWork.TryDequeue(out TimeSpan next) ? next : TimeSpan.FromMilliseconds(1);
                inTick.Set();
                await Task.Delay(work);
                Volatile.Write(ref tickEndedAt, Stopwatch.GetTimestamp());
            }
        });
        Assert.IsTrue(inTick.Wait(TimeSpan.FromSeconds(5)));

        Simulate.Checkpoint(timeout: TimeSpan.FromSeconds(5));

        Assert.IsTrue(Volatile.Read(ref tickEndedAt) != 0 && Volatile.Read(ref tickEndedAt) <= window.BeforeCheckpointAt, "the checkpoint went on while a tick was being handled");

        tickWork.Enqueue(TimeSpan.FromSeconds(2));
        inTick.Reset();
        Assert.IsTrue(inTick.Wait(TimeSpan.FromSeconds(5)));
        Thread.Sleep(50);
        CheckpointException failure = Assert.ThrowsExactly<CheckpointException>(() => Simulate.Checkpoint(timeout: TimeSpan.FromMilliseconds(200)));
        Exception timerFailure = failure.Suppressed.Single(e => e.Message.StartsWith("Checkpoint periodic timer", StringComparison.Ordinal));
        StringAssert.Contains(timerFailure.Message, "Checkpoint periodic timer 'reports' could not pause");

        timer.Dispose();
        Assert.IsTrue(loop.Wait(TimeSpan.FromSeconds(10)), "disposing the timer ends the loop");
        GC.KeepAlive(window);
    }

    [TestMethod]
    public void DisposeEndsAPendingWaitWithFalse()
    {
        using var timer = new CheckpointPeriodicTimer(TimeSpan.FromHours(1), "idle");
        ValueTask<bool> pending = timer.WaitForNextTickAsync();
        timer.Dispose();
        Assert.IsFalse(pending.AsTask().Wait(TimeSpan.FromSeconds(5)) && pending.Result);
        Assert.IsFalse(timer.WaitForNextTickAsync().AsTask().GetAwaiter().GetResult());
    }

    /// <summary>Records when it is notified; optionally freezes what waits on <paramref name="thawed"/> meanwhile.</summary>
    private sealed class WindowClock(TimeSpan pause, ManualResetEventSlim? thawed = null) : IResource
    {
        public long BeforeCheckpointAt { get; private set; }

        public long AfterRestoreAt { get; private set; }

        public async Task BeforeCheckpointAsync(Context context, CancellationToken cancellationToken)
        {
            BeforeCheckpointAt = Stopwatch.GetTimestamp();
            thawed?.Reset();
            if (pause > TimeSpan.Zero)
            {
                await Task.Delay(pause, cancellationToken);
            }
        }

        public Task AfterRestoreAsync(Context context, CancellationToken cancellationToken)
        {
            AfterRestoreAt = Stopwatch.GetTimestamp();
            thawed?.Set();
            return Task.CompletedTask;
        }
    }
}
