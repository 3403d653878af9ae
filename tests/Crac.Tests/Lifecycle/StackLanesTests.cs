using System.Runtime.CompilerServices;
using Crac.Lifecycle;

namespace Crac.Tests.Lifecycle;

/// <summary>
/// The lanes of <see cref="CheckpointGate"/>: each page of stack finds a lane that it alone writes
/// with plain stores, tagged once; pages whose lanes are all taken pass on interlocked stripes; and
/// work left on another page (another thread, a deeper frame, a thread that has ended) is counted
/// on the lane's foreign count, so the gate's counts stay whole.
/// </summary>
[TestClass]
public sealed class StackLanesTests
{
    [TestMethod]
    public void EachPageFindsOneLaneOfItsOwnWhenTheirHomesCollideAndNoneWhenAllAreTaken()
    {
        nuint[] colliding = CollidingPages(StackLanes.Probes + 2);
        int home = StackLanes.HomeOf(colliding[0]);
        var lanes = new GateSlot[(1 << StackLanes.LaneBits) + 1];
        int[] found = [.. colliding.Select(page => StackLanes.FindOrTag(lanes, page))];

        Assert.IsTrue(found.Take(StackLanes.Probes).SequenceEqual(Enumerable.Range(0, StackLanes.Probes).Select(probe => (home + probe) & ((1 << StackLanes.LaneBits) - 1))),
            $"the pages did not take their home and the lanes after it: {string.Join(", ", found)}");
        Assert.IsTrue(found.Skip(StackLanes.Probes).All(lane => lane == -1), $"a page found a lane beyond the probes: {string.Join(", ", found)}");
        for (int i = 0; i < colliding.Length; i++)
        {
            Assert.AreEqual(found[i], StackLanes.FindOrTag(lanes, colliding[i]), "a page did not find its lane again");
            if (found[i] >= 0)
            {
                Assert.AreEqual(colliding[i], lanes[found[i]].Page);
            }
        }
    }

    [TestMethod]
    public void TwoThreadsTaggingCollidingPagesAtOnceNeverGetOneLane()
    {
        nuint[] pages = CollidingPages(2);
        var lanes = new GateSlot[(1 << StackLanes.LaneBits) + 1];
        var found = new int[2];
        const int rounds = 200_000;
        using var round = new Barrier(3);
        Thread[] taggers = [.. Enumerable.Range(0, 2).Select(i => new Thread(() =>
        {
            for (int r = 0; r < rounds; r++)
            {
                round.SignalAndWait();
                found[i] = StackLanes.FindOrTag(lanes, pages[i]);
                round.SignalAndWait();
            }
        }) { IsBackground = true })];
        Array.ForEach(taggers, t => t.Start());
        // Every round runs, whatever it finds, so that the taggers end.
        string? firstFailure = null;
        for (int r = 0; r < rounds; r++)
        {
            round.SignalAndWait();
            round.SignalAndWait();
            bool distinct = found[0] >= 0 && found[1] >= 0 && found[0] != found[1];
            if (firstFailure is null && !(distinct && lanes[found[0]].Page == pages[0] && lanes[found[1]].Page == pages[1]))
            {
                firstFailure = $"round {r}: the two pages got lanes {found[0]} and {found[1]}";
            }

            foreach (int lane in found.Where(lane => lane >= 0))
            {
                lanes[lane].Page = 0;
            }
        }

        Assert.IsNull(firstFailure);
        Assert.IsTrue(taggers.All(t => t.Join(TimeSpan.FromSeconds(10))));
    }

    [TestMethod]
    public void AThreadPassesOnItsOwnLaneAndAScopeLeftAfterItsThreadEndedIsCountedWhole()
    {
        var gate = new GateCore<HardwareMemory>(stripes: 4);
        int lane = -1;
        RunOnThreadToItsEnd(() => lane = PassThenEnter(gate));

        Assert.IsTrue(lane >= 0 && lane < gate.Lanes.Length, $"the thread passed on lane {lane}, not one of its own");
        Assert.AreNotEqual((nuint)0, gate.Lanes[lane].Page, "the thread's lane is not tagged");
        // Own, unless the exit's marker fell on the next page (then foreign): a few bytes in 4 KiB.
        Assert.AreEqual(1, gate.Lanes[lane].Own + gate.Lanes[lane].Foreign, "the thread's entry is not counted on its lane");
        Assert.IsTrue(gate.Lanes[lane].Own >= 1, "the thread's entry was not a plain store to its own count");

        // The thread is gone with a scope inside: the close waits for it.
        GateClosing closing = gate.BeginClose();
        Assert.IsFalse(closing.Drained.Task.IsCompleted, "the gate drained with a scope inside");

        // Left here, on another page: the lane's foreign count, and the gate drains.
        int foreign = gate.Lanes[lane].Foreign;
        gate.Exit(lane);
        Assert.AreEqual(foreign - 1, gate.Lanes[lane].Foreign, "a scope left on another thread was not taken from the foreign count");
        Assert.IsTrue(closing.Drained.Task.Wait(TimeSpan.FromSeconds(10)), "the gate did not drain once the scope was left");
        Assert.IsTrue(gate.Reopen(closing));
        Assert.AreEqual(0, gate.CountInside());
    }

    [TestMethod]
    public void AScopeLeftDeeperInTheStackThanItWasEnteredIsCountedWhole()
    {
        var gate = new GateCore<HardwareMemory>(stripes: 4);
        RunOnThreadToItsEnd(() =>
        {
            int lane = gate.TryEnter();
            Assert.IsTrue(lane >= 0);
            LeaveDeeper(gate, lane, depth: 32);
            Assert.AreEqual(-1, gate.Lanes[lane].Foreign, "a scope left on another page was not taken from the foreign count");
        });

        GateClosing closing = gate.BeginClose();
        Assert.IsTrue(closing.Drained.Task.IsCompleted, $"the gate counts {gate.CountInside()} inside after the scope was left");
        Assert.IsTrue(gate.Reopen(closing));
    }

    [TestMethod]
    public void PagesThatFindNoLanePassOnStripesAndTheCloseStillWaitsForThem()
    {
        var gate = new GateCore<HardwareMemory>(stripes: 4);
        // Every lane taken by a page that no thread runs on (page 1 is never a stack).
        foreach (ref GateSlot lane in gate.Lanes)
        {
            lane.Page = 1;
        }

        const int holders = 3;
        using var release = new ManualResetEventSlim();
        using var inside = new CountdownEvent(holders);
        var stripes = new int[holders];
        Thread[] threads = [.. Enumerable.Range(0, holders).Select(i => new Thread(() =>
        {
            int stripe = gate.TryEnter();
            stripes[i] = stripe;
            inside.Signal();
            release.Wait();
            gate.Exit(stripe);
        }) { IsBackground = true })];
        Array.ForEach(threads, t => t.Start());
        Assert.IsTrue(inside.Wait(TimeSpan.FromSeconds(10)), "the threads did not get in");
        Assert.IsTrue(stripes.All(s => s >= gate.Lanes.Length), $"a thread got a lane: {string.Join(", ", stripes)}");

        GateClosing closing = gate.BeginClose();
        Thread.Sleep(50);
        Assert.IsFalse(closing.Drained.Task.IsCompleted, "the gate drained with work inside on stripes");
        release.Set();
        Assert.IsTrue(threads.All(t => t.Join(TimeSpan.FromSeconds(10))));
        Assert.IsTrue(closing.Drained.Task.Wait(TimeSpan.FromSeconds(10)), "the gate did not drain once the stripes' work left");
        Assert.IsTrue(gate.Reopen(closing));
        foreach (GateSlot lane in gate.Lanes)
        {
            Assert.AreEqual((nuint)1, lane.Page, "a lane of another page was taken over");
        }
    }

    /// <summary>Pages (not stacks) whose home is one lane.</summary>
    private static nuint[] CollidingPages(int count)
    {
        int home = StackLanes.HomeOf(0x7f00_0000);
        nuint[] pages = [.. Enumerable.Range(0, 1 << 24)
            .Select(i => (nuint)(0x7f00_0000 + i))
            .Where(page => StackLanes.HomeOf(page) == home)
            .Take(count)];
        Assert.AreEqual(count, pages.Length, "not enough colliding pages found");
        return pages;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int PassThenEnter(GateCore<HardwareMemory> gate)
    {
        gate.Exit(gate.TryEnter());
        return gate.TryEnter();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int LeaveDeeper(GateCore<HardwareMemory> gate, int lane, int depth)
    {
        // A kibibyte of stack a frame: 32 frames down is several pages below the entering one.
        Span<byte> frame = stackalloc byte[1024];
        frame[depth] = (byte)depth;
        if (depth > 0)
        {
            return frame[depth] + LeaveDeeper(gate, lane, depth - 1);
        }
        else
        {
            Assert.AreNotEqual(gate.Lanes[lane].Page, StackLanes.CurrentPage(), "not deep enough to be on another page");
            gate.Exit(lane);
            return frame[0];
        }
    }

    private static void RunOnThreadToItsEnd(Action body)
    {
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                body();
            }
            catch (Exception e)
            {
                failure = e;
            }
        });
        thread.Start();
        Assert.IsTrue(thread.Join(TimeSpan.FromSeconds(10)), "the thread did not end within 10 s");
        if (failure is not null)
        {
            throw new AssertFailedException($"on the thread: {failure.Message}", failure);
        }
    }
}
