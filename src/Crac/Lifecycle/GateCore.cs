using System.Numerics;
using System.Runtime.CompilerServices;

namespace Crac.Lifecycle;

/// <summary>
/// The algorithm of <see cref="CheckpointGate"/>: per-thread counters (lanes) of the work inside, and an
/// asymmetric Dekker handshake between those who enter and the one who closes. docs/gate.md has
/// the argument at length; the short form follows.
/// </summary>
/// <remarks>
/// <para>
/// <b>Enter</b> adds 1 to the thread's own lane (<see cref="StackLanes"/>) with a plain store, then reads the closing field
/// (the recheck). <b>Close</b> writes the closing field, then runs a process-wide barrier
/// (<c>membarrier</c>): every thread passes a full fence, so every +1 stored before it is visible
/// after it, and a thread that had not yet stored reads the closing field after it and backs out.
/// The fence an entering thread would need between its store and its load is paid by the closer,
/// once. So a sum of the counters taken after the barrier is never below the number inside, and a
/// zero proves the gate empty. Threads without a lane use stripes after the lanes, interlocked (a
/// full fence each).
/// </para>
/// <para>
/// <b>Exit</b> takes 1 from the lane its entry used: with a plain store when it runs on the lane's
/// own thread (on the page of stack the lane is tagged with), otherwise (an async flow that
/// resumed elsewhere) interlocked, from the lane's foreign count. Then it reads the closing field. Whoever leaves
/// while the gate is closed fences, and sums only once the closer's barrier has run
/// (<see cref="GateClosing.Fenced"/>): a sum before it could miss a +1 still in another
/// thread's store buffer. Against the closer's store of that flag, fence and sum, either the
/// departing thread sees the flag or the closer's sum sees the departure; when the last two leave
/// at once, each stores, fences, then reads the other's count. The drain cannot be missed.
/// </para>
/// <para>
/// Counters wrap around; sums in two's complement stay exact.
/// </para>
/// </remarks>
internal sealed class GateCore<TMemory>
    where TMemory : struct, IGateMemory
{
    private readonly Lock _sync = new();
    // The lanes, then the stripes.
    private readonly GateSlot[] _slots;
    private readonly int _lanes;
    private readonly int _stripeMask;
    private GateClosing? _closing;

    /// <param name="stripes">For threads without a lane; a power of two.</param>
    public GateCore(int stripes)
    {
        if (stripes <= 0 || !BitOperations.IsPow2(stripes))
        {
            throw new ArgumentOutOfRangeException(nameof(stripes), stripes, "The number of stripes must be a power of two.");
        }

        _lanes = 1 << TMemory.LaneBits;
        _slots = new GateSlot[_lanes + stripes];
        _stripeMask = stripes - 1;
    }

    public bool IsOpen => TMemory.Load(ref _closing, this) is null;

    /// <summary>The lanes (without the stripes), for tests.</summary>
    internal Span<GateSlot> Lanes => _slots.AsSpan(0, _lanes);

    /// <summary>The closing under way, or null while the gate is open.</summary>
    public GateClosing? Closing => TMemory.Load(ref _closing, this);

    /// <summary>
    /// Enters and returns the lane to pass to <see cref="Exit"/>; or, with the gate closed, returns
    /// -1 (see <see cref="Closing"/> for what to wait for before trying again).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int TryEnter()
    {
        int lane = TMemory.HomeLane();
        return TMemory.OwnsLane(_slots, lane) ? TryEnterOn(lane) : TryEnterElsewhere();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Exit(int lane)
    {
        if (TMemory.OwnsLane(_slots, lane))
        {
            TMemory.AddOwn(_slots, lane, -1);
        }
        else
        {
            TMemory.AddForeign(_slots, lane, -1);
        }

        if (TMemory.Load(ref _closing, this) is not null)
        {
            OnLeftWhileClosed();
        }
    }

    /// <summary>
    /// Closes the gate: from now on nobody new gets in. Returns the closing, whose
    /// <see cref="GateClosing.Drained"/> completes once nobody is inside. Closing a closed gate
    /// returns the closing under way.
    /// </summary>
    public GateClosing BeginClose()
    {
        GateClosing? underWay;
        GateClosing closing;
        lock (_sync)
        {
            underWay = TMemory.Load(ref _closing, this);
            closing = underWay ?? new GateClosing();
            if (underWay is null)
            {
                TMemory.Store(ref _closing, this, closing);
            }
        }

        if (underWay is not null)
        {
            // Another closer's: sums prove nothing until its barrier has run, this caller's (a
            // timeout's) no more than anyone's, so wait the microseconds until it has.
            TMemory.Fence();
            while (!TMemory.LoadFenced(underWay))
            {
                TMemory.Pause();
            }

            return underWay;
        }

        // The closer's half of the handshake, for every thread at once: each thread's +1 stored
        // before this point is visible after it, and each that stores later then sees the closing.
        TMemory.ProcessWideFence();
        TMemory.StoreFenced(closing);
        // Against a departing thread's store, fence, load of Fenced: one of the two sees the other.
        TMemory.Fence();
        if (CountInside() == 0)
        {
            TMemory.TrySignal(closing.Drained);
        }

        return closing;
    }

    /// <summary>
    /// Settles a close whose deadline passed: returns 0 when the gate is empty after all (it
    /// stays closed), otherwise opens it again and returns how many were still inside; -1 when
    /// something else opened it meanwhile, so that this close holds nothing.
    /// </summary>
    public int ResolveTimeout(GateClosing closing)
    {
        if (!ReferenceEquals(TMemory.Load(ref _closing, this), closing))
        {
            return -1;
        }

        if (closing.Drained.Task.IsCompleted)
        {
            return 0;
        }

        int inside = CountInside();
        if (inside <= 0)
        {
            TMemory.TrySignal(closing.Drained);
            return 0;
        }

        Reopen(closing);
        return inside;
    }

    /// <summary>Opens the gate and wakes whoever waits; does nothing when it is open (or, given <paramref name="expected"/>, closed by another closing).</summary>
    public bool Reopen(GateClosing? expected = null)
    {
        GateClosing? closing;
        lock (_sync)
        {
            closing = TMemory.Load(ref _closing, this);
            if (closing is null || (expected is not null && !ReferenceEquals(closing, expected)))
            {
                return false;
            }

            TMemory.Store(ref _closing, this, null);
        }

        // After the store: a waiter woken by the signal must find the gate open when it retries.
        TMemory.TrySignal(closing.Reopened);
        return true;
    }

    /// <summary>The sum of the counters: at least the number inside, once the closer's barrier has run.</summary>
    public int CountInside()
    {
        int sum = 0;
        GateSlot[] slots = _slots;
        for (int i = 0; i < slots.Length; i++)
        {
            sum = unchecked(sum + TMemory.LoadOwn(slots, i) + TMemory.LoadForeign(slots, i));
        }

        return sum;
    }

    /// <summary>Enters on the calling thread's own lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int TryEnterOn(int lane)
    {
        TMemory.AddOwn(_slots, lane, 1);
        if (TMemory.Load(ref _closing, this) is null)
        {
            return lane;
        }

        BackOut(lane);
        return -1;
    }

    /// <summary>Enters on a lane found (or tagged) away from home, or on a stripe when there is none.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private int TryEnterElsewhere()
    {
        int lane = TMemory.FindLane(_slots);
        if (lane >= 0)
        {
            return TryEnterOn(lane);
        }

        int stripe = _lanes + TMemory.CurrentStripe(_stripeMask);
        TMemory.AddForeign(_slots, stripe, 1);
        if (TMemory.Load(ref _closing, this) is null)
        {
            return stripe;
        }

        TMemory.AddForeign(_slots, stripe, -1);
        OnLeftWhileClosed();
        return -1;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void BackOut(int lane)
    {
        TMemory.AddOwn(_slots, lane, -1);
        // The closer may have counted this passing entry: it waits for a signal from us then.
        OnLeftWhileClosed();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void OnLeftWhileClosed()
    {
        TMemory.Fence();
        // The closing under way now, not the one seen before the fence: that one may have reopened
        // since, and a new close, whose sum missed this departure, would wait for a signal sent to
        // the old one (until its deadline).
        if (TMemory.Load(ref _closing, this) is { } closing && TMemory.LoadFenced(closing) && CountInside() == 0)
        {
            TMemory.TrySignal(closing.Drained);
        }
    }
}
