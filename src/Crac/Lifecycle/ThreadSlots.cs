using System.Numerics;
using System.Runtime.CompilerServices;

namespace Crac.Lifecycle;

/// <summary>
/// Leases of per-thread slot numbers for every <see cref="CheckpointGate"/>: a thread that first
/// passes a gate leases a number, and slot n of each gate is then written (plain stores) only by
/// that thread. Finding it costs one thread-static read on each entry. When the thread dies, its
/// lease's finalizer hands the number back, but only once no gate counts work entered on it (a
/// scope may outlive its thread, left later on another one); until then it tries again at each
/// collection (a thread's lease is usually collected by a full collection). Threads beyond
/// <see cref="Capacity"/> leases use interlocked stripes until a number comes back.
/// </summary>
internal static class ThreadSlots
{
    /// <summary>Slots per gate: more than the threads that pass gates at once in any ordinary process.</summary>
    public static readonly int Capacity = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(128, 4 * Environment.ProcessorCount));

    /// <summary>The leased slot + 1; 0 while the thread has none (before its first passage, or when none was free).</summary>
    [ThreadStatic]
    private static int t_slotPlusOne;

    /// <summary>Held by the thread for its whole life: collected (and finalized) only once the thread has ended.</summary>
    [ThreadStatic]
    private static Lease? t_lease;

    private static readonly Lock Sync = new();
    private static readonly Stack<int> Returned = new();
    // Returned.Count, readable without the lock: a thread that found no number looks here on each passage.
    private static int s_returned;
    private static readonly List<WeakReference<GateCore<HardwareMemory>>> Gates = [];
    private static int s_neverLeased;

    /// <summary>The calling thread's slot, leased on its first call; negative when none was left.</summary>
    public static int Current
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            int slotPlusOne = t_slotPlusOne;
            return slotPlusOne != 0 ? slotPlusOne - 1 : LeaseForThisThread();
        }
    }

    /// <summary>Lets the leases see the gate's counts: a number is handed back only when no gate counts work entered on it.</summary>
    public static void Track(GateCore<HardwareMemory> gate)
    {
        lock (Sync)
        {
            Gates.RemoveAll(reference => !reference.TryGetTarget(out _));
            Gates.Add(new WeakReference<GateCore<HardwareMemory>>(gate));
        }
    }

    /// <summary>Numbers free for a new thread: handed back, or never leased.</summary>
    public static int Available
    {
        get
        {
            lock (Sync)
            {
                return Returned.Count + (Capacity - s_neverLeased);
            }
        }
    }

    /// <summary>Whether a number is free to lease again (for tests).</summary>
    public static bool IsHandedBack(int slot)
    {
        lock (Sync)
        {
            return Returned.Contains(slot);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int LeaseForThisThread()
    {
        // All leased: the thread passes on a stripe, and tries again once a number has come back.
        if (Volatile.Read(ref s_returned) == 0 && Volatile.Read(ref s_neverLeased) >= Capacity)
        {
            return -1;
        }

        int slot;
        lock (Sync)
        {
            slot = Returned.Count > 0 ? Returned.Pop() : s_neverLeased < Capacity ? s_neverLeased++ : -1;
            s_returned = Returned.Count;
        }

        if (slot < 0)
        {
            return -1;
        }

        t_lease = new Lease(slot);
        t_slotPlusOne = slot + 1;
        return slot;
    }

    /// <summary>Hands a dead thread's number back, unless a gate still counts work entered on it.</summary>
    private static bool TryHandBack(int slot)
    {
        lock (Sync)
        {
            foreach (WeakReference<GateCore<HardwareMemory>> reference in Gates)
            {
                // Nobody adds to a dead thread's slot, so its count only falls: a zero read now stays zero.
                if (reference.TryGetTarget(out GateCore<HardwareMemory>? gate) && gate.CountedOn(slot) != 0)
                {
                    return false;
                }
            }

            Returned.Push(slot);
            s_returned = Returned.Count;
            return true;
        }
    }

    private sealed class Lease(int slot)
    {
        ~Lease()
        {
            if (!TryHandBack(slot))
            {
                GC.ReRegisterForFinalize(this);
            }
        }
    }
}
