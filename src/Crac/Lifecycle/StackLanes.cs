using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Crac.Lifecycle;

/// <summary>
/// Finds the counter (lane) of a <see cref="CheckpointGate"/> that the calling thread may write with
/// plain stores, by the page its stack is on, with no thread-static lookup. A page of stack belongs
/// to one live thread at a time (thread stacks are page-aligned mappings of their own), so a lane
/// tagged with a page is written, on its own count, only by whichever thread runs on that page:
/// one writer, as the gate's plain read-modify-write needs. Lanes are tagged on first use (an
/// interlocked compare-exchange) and keep their tag: a page that comes back as part of a new
/// thread's stack (glibc reuses the stacks of ended threads) finds its lane again.
/// </summary>
/// <remarks>
/// A page's home lane is a Fibonacci hash of its number, so that the same depth on stacks a fixed
/// distance apart does not collide; a page whose home is taken looks at the next
/// <see cref="Probes"/> lanes. A page that finds none returns -1 and passes on an interlocked
/// stripe: slower, never wrong.
/// </remarks>
internal static class StackLanes
{
    /// <summary>log2 of the page size the lanes are keyed by: 4 KiB, the smallest page Linux maps a stack with.</summary>
    public const int PageShift = 12;

    /// <summary>How many lanes after its home a page looks at before it passes on a stripe.</summary>
    public const int Probes = 8;

    private const ulong Golden = 0x9E3779B97F4A7C15;

    /// <summary>Lanes per gate: more than the pages of stack that pass a gate in an ordinary process (threads × the depths they enter at).</summary>
    public static readonly int LaneBits = Math.Max(9, 64 - (int)ulong.LeadingZeroCount((ulong)(16 * Environment.ProcessorCount - 1)));

    /// <summary>The page the caller's stack is on: the address of a local, shifted. Never 0, which marks an untagged lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe nuint CurrentPage()
    {
        byte marker = 0;
        return (nuint)(&marker) >> PageShift;
    }

    /// <summary>The lane a page is first looked for in, below 2^<see cref="LaneBits"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int HomeOf(nuint page) => (int)(((ulong)page * Golden) >> (64 - LaneBits));

    /// <summary>Whether the caller runs on the page the lane is tagged with, and so is the one thread that may store to its own count.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsCurrent(GateSlot[] lanes, int lane) =>
        // Unchecked: lanes come from HomeOf or FindOrTag, or a stripe's index, all below lanes.Length.
        Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(lanes), lane).Page == CurrentPage();

    /// <summary>The page's lane: its home or one of the <see cref="Probes"/> after it, tagged now if need be; -1 when all are others'.</summary>
    public static int FindOrTag(GateSlot[] lanes, nuint page)
    {
        int mask = (1 << LaneBits) - 1;
        int home = HomeOf(page);
        for (int probe = 0; probe < Probes; probe++)
        {
            int lane = (home + probe) & mask;
            nuint tag = Volatile.Read(ref lanes[lane].Page);
            if (tag == 0)
            {
                tag = Interlocked.CompareExchange(ref lanes[lane].Page, page, 0);
                if (tag == 0)
                {
                    return lane;
                }
            }

            if (tag == page)
            {
                return lane;
            }
        }

        return -1;
    }
}
