using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Crac.Lifecycle;

/// <summary>
/// A counter of a <see cref="CheckpointGate"/> (a lane), alone on its cache lines. A lane is tagged
/// with a page of stack (<see cref="StackLanes"/>), and only the thread running on that page writes
/// <see cref="Own"/>, with plain stores; work that leaves elsewhere takes 1 from
/// <see cref="Foreign"/>, interlocked. Pages that find no lane share the last slots as stripes,
/// untagged, through <see cref="Foreign"/> alone.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 128)]
internal struct GateSlot
{
    // At offset 64 of a 128-byte element: lanes sit 128 bytes apart (clear of the adjacent-line
    // prefetcher too), and the first never shares a line with the array's length, which every
    // bounds check reads. The tag shares the counts' line: entering and leaving read it anyway.
    [FieldOffset(64)]
    public int Own;

    [FieldOffset(68)]
    public int Foreign;

    /// <summary>The page of stack whose thread owns <see cref="Own"/>; 0 while untagged (and for stripes).</summary>
    [FieldOffset(72)]
    public nuint Page;
}

/// <summary>A closing of the gate: set while it is closed, and the two things waited for.</summary>
internal sealed class GateClosing
{
    /// <summary>
    /// Set once the closer's process-wide barrier has run: from then on every thread's count is
    /// visible, and a sum taken by a departing thread proves something. Before it, a thread that
    /// entered a moment earlier may still hold its +1 in its store buffer.
    /// </summary>
    public bool Fenced;

    /// <summary>Completes once nobody is inside. Continuations run asynchronously: the worker whose exit completes it must not go on to run the checkpoint.</summary>
    public TaskCompletionSource Drained { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes when the gate opens again; whoever waits to enter waits for it.</summary>
    public TaskCompletionSource Reopened { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

/// <summary>
/// The shared-memory operations the gate's algorithm is made of. Production code uses
/// <see cref="HardwareMemory"/>; the tests substitute a simulated x86-TSO memory (store buffers
/// included) with a scheduling point at every operation, so the very same algorithm is explored
/// interleaving by interleaving. Static abstract members on a struct type argument compile to
/// direct, inlined code: the abstraction costs nothing on the hot path.
/// </summary>
internal interface IGateMemory
{
    /// <summary>log2 of the number of lanes, the slots before the stripes.</summary>
    static abstract int LaneBits { get; }

    /// <summary>The first lane to look at for the calling thread: its own (<see cref="OwnsLane"/>) in the common case.</summary>
    static abstract int HomeLane();

    /// <summary>The lane the calling thread alone writes the own count of, looked for everywhere (and tagged if need be); a negative number when it has none.</summary>
    static abstract int FindLane(GateSlot[] slots);

    /// <summary>Whether the calling thread is the one that writes the lane's own count (false for a stripe).</summary>
    static abstract bool OwnsLane(GateSlot[] slots, int lane);

    /// <summary>The stripe a thread without a slot uses (below <paramref name="mask"/> + 1); threads that run at once should mostly get different ones.</summary>
    static abstract int CurrentStripe(int mask);

    /// <summary>A plain load of a slot's own count: only its thread writes it.</summary>
    static abstract int LoadOwn(GateSlot[] slots, int index);

    /// <summary>Adds to a slot's own count with a plain load and a plain store (release), by its thread alone; the store may sit in the store buffer.</summary>
    static abstract void AddOwn(GateSlot[] slots, int index, int delta);

    static abstract int LoadForeign(GateSlot[] slots, int index);

    /// <summary>An interlocked add to a slot's foreign count: atomic, and a full fence.</summary>
    static abstract void AddForeign(GateSlot[] slots, int index, int delta);

    static abstract GateClosing? Load(ref GateClosing? field, object owner);

    static abstract void Store(ref GateClosing? field, object owner, GateClosing? value);

    static abstract bool LoadFenced(GateClosing closing);

    static abstract void StoreFenced(GateClosing closing);

    /// <summary>A full fence.</summary>
    static abstract void Fence();

    /// <summary>A full fence on every thread of the process: every store made before it is visible after it.</summary>
    static abstract void ProcessWideFence();

    /// <summary>A pause in a spin-wait for another thread's store.</summary>
    static abstract void Pause();

    /// <summary>Completes a signal: an interlocked operation, so also a full fence.</summary>
    static abstract bool TrySignal(TaskCompletionSource signal);
}

/// <summary>The real memory: plain and volatile accesses, interlocked operations, and <c>membarrier</c>.</summary>
internal readonly struct HardwareMemory : IGateMemory
{
    public static int LaneBits => StackLanes.LaneBits;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int HomeLane() => StackLanes.HomeOf(StackLanes.CurrentPage());

    public static int FindLane(GateSlot[] slots) => StackLanes.FindOrTag(slots, StackLanes.CurrentPage());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool OwnsLane(GateSlot[] slots, int lane) => StackLanes.IsCurrent(slots, lane);

    /// <summary>
    /// The 1 MiB region of the stack the caller runs on. Thread stacks are disjoint mappings (1.5
    /// MiB each for .NET's threads), so threads that run at once land in different regions. It is
    /// free to compute, where a thread-static lookup costs a call into the TLS resolver. Two
    /// threads that share a stripe only share a cache line: every update of a stripe is interlocked.
    /// </summary>
    public static int CurrentStripe(int mask) => (int)(StackLanes.CurrentPage() >> (20 - StackLanes.PageShift)) & mask;

    public static int LoadOwn(GateSlot[] slots, int index) => slots[index].Own;

    /// <summary>Unchecked: the index was checked at the entry that produced it.</summary>
    public static void AddOwn(GateSlot[] slots, int index, int delta)
    {
        ref int own = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(slots), index).Own;
        Volatile.Write(ref own, own + delta);
    }

    public static int LoadForeign(GateSlot[] slots, int index) => Volatile.Read(ref slots[index].Foreign);

    public static void AddForeign(GateSlot[] slots, int index, int delta) => Interlocked.Add(ref slots[index].Foreign, delta);

    public static GateClosing? Load(ref GateClosing? field, object owner) => Volatile.Read(ref field);

    public static void Store(ref GateClosing? field, object owner, GateClosing? value) => Volatile.Write(ref field, value);

    public static bool LoadFenced(GateClosing closing) => Volatile.Read(ref closing.Fenced);

    public static void StoreFenced(GateClosing closing) => Volatile.Write(ref closing.Fenced, true);

    public static void Fence() => Interlocked.MemoryBarrier();

    public static void ProcessWideFence() => ProcessWideBarrier.Run();

    public static void Pause() => Thread.SpinWait(20);

    public static bool TrySignal(TaskCompletionSource signal) => signal.TrySetResult();
}
