using System.Numerics;
using System.Runtime.CompilerServices;

namespace Crac.Lifecycle;

/// <summary>
/// The algorithm of <see cref="CheckpointGate"/>: a striped counter of the work inside, and a
/// Dekker handshake between those who enter and the one who closes. docs/gate.md has the argument
/// at length; the short form follows.
/// </summary>
/// <remarks>
/// <para>
/// <b>Enter</b> adds 1 to a stripe, then reads the closing field (the recheck). <b>Close</b>
/// writes the closing field, fences, then sums the stripes. Both sides store, fence, then load
/// what the other stored (the add is interlocked, a full fence), so at least one sees the other:
/// either the closer's sum includes the entry, or the entering thread sees the closing and backs
/// out instead of going in. No thread is inside unseen, and nobody new gets in, so a sum of zero,
/// taken after the fence, proves the gate empty. Reading the state first and adding after would
/// let a thread that read "open" add only after the closer summed zero: that is the race the
/// order of these two steps closes.
/// </para>
/// <para>
/// <b>Exit</b> subtracts 1 from the stripe its entry used (the scope remembers it, so an async
/// flow may leave on another thread), then reads the closing field. The sum is never below the
/// number inside: by the handshake, the +1 of every thread that went in is visible to it, and the
/// -1 comes only when that thread leaves. Whoever leaves while the gate is closed (an
/// exit, or an entry backing out) sums the stripes and completes <see cref="GateClosing.Drained"/>
/// at zero. By the same handshake, either the closer's sum sees such a departure or the departing
/// thread sees the closing; when the last two leave at once, each adds, then reads the other's
/// stripe, so at least one sees both gone. The drain cannot be missed.
/// </para>
/// <para>
/// Counters wrap around; sums in two's complement stay exact. A stripe shared by two threads
/// only costs them a shared cache line.
/// </para>
/// </remarks>
internal sealed class GateCore<TMemory>
    where TMemory : struct, IGateMemory
{
    private readonly Lock _sync = new();
    private readonly GateStripe[] _stripes;
    private readonly int _mask;
    private GateClosing? _closing;

    /// <param name="stripes">A power of two.</param>
    public GateCore(int stripes)
    {
        if (stripes <= 0 || !BitOperations.IsPow2(stripes))
        {
            throw new ArgumentOutOfRangeException(nameof(stripes), stripes, "The number of stripes must be a power of two.");
        }

        _stripes = new GateStripe[stripes];
        _mask = stripes - 1;
    }

    public bool IsOpen => TMemory.Load(ref _closing, this) is null;

    /// <summary>
    /// Enters and returns the stripe to pass to <see cref="Exit"/>; or, with the gate closed,
    /// returns -1 and the closing to wait for before trying again.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int TryEnter(out GateClosing? closing)
    {
        int stripe = TMemory.CurrentStripe(_mask);
        TMemory.Add(_stripes, stripe, 1);
        closing = TMemory.Load(ref _closing, this);
        if (closing is null)
        {
            return stripe;
        }

        BackOut(stripe, closing);
        return -1;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Exit(int stripe)
    {
        TMemory.Add(_stripes, stripe, -1);
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
        GateClosing closing;
        lock (_sync)
        {
            if (TMemory.Load(ref _closing, this) is { } current)
            {
                return current;
            }

            closing = new GateClosing();
            TMemory.Store(ref _closing, this, closing);
        }

        // The closer's half of the handshake: its store is visible before it reads any stripe.
        TMemory.Fence();
        if (CountInside() == 0)
        {
            TMemory.TrySignal(closing.Drained);
        }

        return closing;
    }

    /// <summary>
    /// Settles a close whose deadline passed: returns 0 when the gate is empty after all (it
    /// stays closed), otherwise opens it again and returns how many were still inside.
    /// </summary>
    public int ResolveTimeout(GateClosing closing)
    {
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

    /// <summary>The sum of the stripes: at least the number inside, once the closing is visible.</summary>
    public int CountInside()
    {
        int sum = 0;
        GateStripe[] stripes = _stripes;
        for (int i = 0; i < stripes.Length; i++)
        {
            sum = unchecked(sum + TMemory.Load(stripes, i));
        }

        return sum;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void BackOut(int stripe, GateClosing closing)
    {
        TMemory.Add(_stripes, stripe, -1);
        // The closer may have counted this passing entry: it waits for a signal from us then.
        OnLeftWhileClosed(closing);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void OnLeftWhileClosed(GateClosing closing)
    {
        if (CountInside() == 0)
        {
            TMemory.TrySignal(closing.Drained);
        }
    }
}
