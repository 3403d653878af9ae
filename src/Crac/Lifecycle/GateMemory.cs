using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Crac.Lifecycle;

/// <summary>
/// A thread's own counter in a <see cref="CheckpointGate"/>, alone on its cache lines. Only the
/// thread holding the slot's lease (<see cref="ThreadSlots"/>) writes <see cref="Own"/>, with plain
/// stores; work that leaves on another thread takes 1 from <see cref="Foreign"/>, interlocked.
/// Threads without a lease share the last slots as stripes, through <see cref="Foreign"/> alone.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 128)]
internal struct GateSlot
{
    // At offset 64 of a 128-byte element: slots sit 128 bytes apart (clear of the adjacent-line
    // prefetcher too), and the first never shares a line with the array's length, which every
    // bounds check reads.
    [FieldOffset(64)]
    public int Own;

    [FieldOffset(68)]
    public int Foreign;
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
    /// <summary>The slot whose lease the calling thread holds, or a negative number when it has none.</summary>
    static abstract int CurrentSlot();

    /// <summary>The stripe a thread without a slot uses (below <paramref name="mask"/> + 1); threads that run at once should mostly get different ones.</summary>
    static abstract int CurrentStripe(int mask);

    /// <summary>Where the caller's stack is: two calls in one frame of one thread give addresses a few bytes apart, two live threads never do (<see cref="HardwareMemory.StackMarker"/>).</summary>
    static abstract nuint StackMarker();

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
    public static int CurrentSlot() => ThreadSlots.Current;

    /// <summary>
    /// The 1 MiB region of the stack the caller runs on. Thread stacks are disjoint mappings (1.5
    /// MiB each for .NET's threads), so threads that run at once land in different regions. It is
    /// free to compute, where a thread-static lookup costs a call into the TLS resolver. Two
    /// threads that share a stripe only share a cache line: every update of a stripe is interlocked.
    /// </summary>
    public static unsafe int CurrentStripe(int mask) => (int)(StackMarker() >> 20) & mask;

    /// <summary>
    /// The address of a local. Live threads' stacks are disjoint mappings, each with a guard page
    /// at its low end and the thread's descriptor and TLS block at its high end, so frames of two
    /// live threads are always kilobytes apart, while an enter and an exit in one frame (a
    /// <c>using</c> block, the methods inlined or not) are within a few hundred bytes.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe nuint StackMarker()
    {
        byte marker = 0;
        return (nuint)(&marker);
    }

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
