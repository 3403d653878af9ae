using System.Diagnostics;
using Crac.Lifecycle;

namespace Crac.Tests.Lifecycle;

/// <summary>
/// The per-thread slot numbers of <see cref="CheckpointGate"/>: a number is handed back when its
/// thread has ended, but not while work entered on that thread is still inside a gate (a scope
/// may outlive its thread and be left on another one).
/// </summary>
[TestClass]
public sealed class ThreadSlotsTests
{
    [TestMethod]
    public void ADeadThreadsNumberComesBackOnlyOnceTheWorkEnteredOnItHasLeft()
    {
        var gate = new CheckpointGate("slots");
        int slot = -1;
        CheckpointGate.Scope outstanding = default;
        RunOnThreadToItsEnd(() =>
        {
            slot = ThreadSlots.Current;
            using (gate.Enter())
            {
            }

            outstanding = gate.Enter();
        });
        Assert.IsTrue(slot >= 0, $"the thread got no slot ({slot}); {ThreadSlots.Available} available");

        // The thread is gone and its lease collected, but a scope entered on it is still inside.
        CollectFor(TimeSpan.FromMilliseconds(300));
        Assert.IsFalse(ThreadSlots.IsHandedBack(slot), "a number came back while work entered on it was inside a gate");

        // Left on this thread: the slot's foreign count. Then the number comes back, and a new thread gets it.
        outstanding.Dispose();
        var waited = Stopwatch.StartNew();
        while (!ThreadSlots.IsHandedBack(slot))
        {
            Assert.IsTrue(waited.Elapsed < TimeSpan.FromSeconds(10), $"slot {slot} did not come back within 10 s of its thread's end");
            CollectFor(TimeSpan.FromMilliseconds(50));
        }

        int next = -1;
        RunOnThreadToItsEnd(() => next = ThreadSlots.Current);
        Assert.AreEqual(slot, next, "a new thread leases the number handed back last");

        // And the gate's counts are whole: it closes at once.
        Assert.IsTrue(gate.BeforeCheckpointAsync(Core.GlobalContext, CancellationToken.None).IsCompletedSuccessfully, "the gate still counts work inside");
    }

    [TestMethod]
    public void ThreadsBeyondTheSlotsPassOnStripesAndTakeASlotOnceOneComesBack()
    {
        var gate = new CheckpointGate("beyond the slots");
        int threads = ThreadSlots.Available + 2;
        using var release = new ManualResetEventSlim();
        using var passAgain = new ManualResetEventSlim();
        var inside = new CountdownEvent(threads);
        var slots = new int[threads];
        var secondPass = new int[threads];
        var holders = Enumerable.Range(0, threads).Select(i => new Thread(() =>
        {
            using (gate.Enter())
            {
                slots[i] = ThreadSlots.Current;
                inside.Signal();
                release.Wait();
            }

            if (slots[i] < 0)
            {
                passAgain.Wait();
                using (gate.Enter())
                {
                    secondPass[i] = ThreadSlots.Current;
                }
            }
        }) { IsBackground = true }).ToArray();
        Array.ForEach(holders, t => t.Start());
        Assert.IsTrue(inside.Wait(TimeSpan.FromSeconds(30)), "the threads did not all get in");
        int[] without = [.. Enumerable.Range(0, threads).Where(i => slots[i] < 0)];
        Assert.IsTrue(without.Length >= 2, $"only {without.Length} threads found no slot");

        // Work inside on stripes and on slots alike holds the close back until it leaves.
        Task close = gate.BeforeCheckpointAsync(Core.GlobalContext, CancellationToken.None);
        Thread.Sleep(100);
        Assert.IsFalse(close.IsCompleted, "the gate closed with work inside");
        release.Set();
        Assert.IsTrue(close.Wait(TimeSpan.FromSeconds(10)), "the gate did not drain");
        gate.AfterRestoreAsync(Core.GlobalContext, CancellationToken.None).GetAwaiter().GetResult();

        // The threads with slots end; their numbers come back; a thread that had none takes one.
        foreach (int i in Enumerable.Range(0, threads).Except(without))
        {
            Assert.IsTrue(holders[i].Join(TimeSpan.FromSeconds(10)));
        }

        var waited = Stopwatch.StartNew();
        while (ThreadSlots.Available == 0)
        {
            Assert.IsTrue(waited.Elapsed < TimeSpan.FromSeconds(10), "no number came back within 10 s of its thread's end");
            CollectFor(TimeSpan.FromMilliseconds(50));
        }

        passAgain.Set();
        Assert.IsTrue(without.All(i => holders[i].Join(TimeSpan.FromSeconds(10))), "a thread's second pass did not end");
        Assert.IsTrue(without.Any(i => secondPass[i] >= 0), "threads without a slot kept passing on stripes after numbers came back: " + string.Join(", ", without.Select(i => secondPass[i])));
        Assert.IsTrue(gate.BeforeCheckpointAsync(Core.GlobalContext, CancellationToken.None).IsCompletedSuccessfully, "the gate's counts are not whole");
        gate.AfterRestoreAsync(Core.GlobalContext, CancellationToken.None).GetAwaiter().GetResult();
    }

    private static void RunOnThreadToItsEnd(Action body)
    {
        var thread = new Thread(() => body());
        thread.Start();
        Assert.IsTrue(thread.Join(TimeSpan.FromSeconds(10)), "the thread did not end within 10 s");
    }

    private static void CollectFor(TimeSpan time)
    {
        var waited = Stopwatch.StartNew();
        do
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            Thread.Sleep(10);
        }
        while (waited.Elapsed < time);
    }
}
