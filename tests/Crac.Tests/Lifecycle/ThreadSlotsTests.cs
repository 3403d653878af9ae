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
