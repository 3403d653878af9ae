using System.Numerics;
using System.Runtime.CompilerServices;

namespace Crac.Lifecycle;

/// <summary>A passage through the gate: the counter its entry added to, and where the entering thread's stack was.</summary>
/// <param name="Lane">The slot (or stripe) the entry added to.</param>
/// <param name="Marker">The entering frame's <see cref="IGateMemory.StackMarker"/>; 0 for a stripe, which no exit leaves by plain store.</param>
internal readonly record struct GateTicket(int Lane, nuint Marker);

/// <summary>
/// The algorithm of <see cref="CheckpointGate"/>: per-thread counters of the work inside, and an
/// asymmetric Dekker handshake between those who enter and the one who closes. docs/gate.md has
/// the argument at length; the short form follows.
/// </summary>
/// <remarks>
/// <para>
/// <b>Enter</b> adds 1 to the thread's own slot with a plain store, then reads the closing field
/// (the recheck). <b>Close</b> writes the closing field, then runs a process-wide barrier
/// (<c>membarrier</c>): every thread passes a full fence, so every +1 stored before it is visible
/// after it, and a thread that had not yet stored reads the closing field after it and backs out.
/// The fence an entering thread would need between its store and its load is paid by the closer,
/// once. So a sum of the counters taken after the barrier is never below the number inside, and a
/// zero proves the gate empty. Threads without a slot use stripes after the slots, interlocked (a
/// full fence each).
/// </para>
/// <para>
/// <b>Exit</b> takes 1 from the slot its entry used: with a plain store when it runs in the frame
/// that entered (so on the slot's own thread), otherwise (an async flow that resumed elsewhere)
/// interlocked, from the slot's foreign count. Then it reads the closing field. Whoever leaves
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
    /// <summary>How far apart an enter and an exit in one frame may be; frames of two live threads are always further.</summary>
    private const uint SameFrame = 1024;

    private readonly Lock _sync = new();
    // The leased slots, then the stripes.
    private readonly GateSlot[] _slots;
    private readonly int _leased;
    private readonly int _stripeMask;
    private GateClosing? _closing;

    /// <param name="slots">One per leased thread number (<see cref="ThreadSlots.Capacity"/>).</param>
    /// <param name="stripes">For threads without a slot; a power of two.</param>
    public GateCore(int slots, int stripes)
    {
        if (stripes <= 0 || !BitOperations.IsPow2(stripes))
        {
            throw new ArgumentOutOfRangeException(nameof(stripes), stripes, "The number of stripes must be a power of two.");
        }

        _slots = new GateSlot[slots + stripes];
        _leased = slots;
        _stripeMask = stripes - 1;
    }

    public bool IsOpen => TMemory.Load(ref _closing, this) is null;

    /// <summary>
    /// Enters and returns true with the ticket to pass to <see cref="Exit"/>; or, with the gate
    /// closed, returns false and the closing to wait for before trying again.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryEnter(out GateTicket ticket, out GateClosing? closing)
    {
        int slot = TMemory.CurrentSlot();
        if ((uint)slot >= (uint)_leased)
        {
            return TryEnterStriped(out ticket, out closing);
        }

        TMemory.AddOwn(_slots, slot, 1);
        closing = TMemory.Load(ref _closing, this);
        if (closing is null)
        {
            ticket = new GateTicket(slot, TMemory.StackMarker());
            return true;
        }

        BackOut(slot, closing);
        ticket = default;
        return false;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Exit(GateTicket ticket)
    {
        if (TMemory.StackMarker() - ticket.Marker + SameFrame <= 2 * SameFrame)
        {
            TMemory.AddOwn(_slots, ticket.Lane, -1);
        }
        else
        {
            TMemory.AddForeign(_slots, ticket.Lane, -1);
        }

        if (TMemory.Load(ref _closing, this) is { } closing)
        {
            OnLeftWhileClosed(closing);
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

    /// <summary>The work entered on one slot and not yet left: what keeps a dead thread's number from being leased again.</summary>
    public int CountedOn(int slot) => (uint)slot < (uint)_leased
        ? unchecked(TMemory.LoadOwn(_slots, slot) + TMemory.LoadForeign(_slots, slot))
        : 0;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool TryEnterStriped(out GateTicket ticket, out GateClosing? closing)
    {
        int stripe = _leased + TMemory.CurrentStripe(_stripeMask);
        TMemory.AddForeign(_slots, stripe, 1);
        closing = TMemory.Load(ref _closing, this);
        if (closing is null)
        {
            ticket = new GateTicket(stripe, 0);
            return true;
        }

        TMemory.AddForeign(_slots, stripe, -1);
        OnLeftWhileClosed(closing);
        ticket = default;
        return false;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void BackOut(int slot, GateClosing closing)
    {
        TMemory.AddOwn(_slots, slot, -1);
        // The closer may have counted this passing entry: it waits for a signal from us then.
        OnLeftWhileClosed(closing);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void OnLeftWhileClosed(GateClosing closing)
    {
        TMemory.Fence();
        if (TMemory.LoadFenced(closing) && CountInside() == 0)
        {
            TMemory.TrySignal(closing.Drained);
        }
    }
}
