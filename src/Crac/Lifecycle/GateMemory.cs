using System.Runtime.InteropServices;

namespace Crac.Lifecycle;

/// <summary>One stripe of a <see cref="CheckpointGate"/>'s counter, alone on its cache lines.</summary>
[StructLayout(LayoutKind.Explicit, Size = 128)]
internal struct GateStripe
{
    // At offset 64 of a 128-byte element: stripes sit 128 bytes apart (clear of the adjacent-line
    // prefetcher too), and the first never shares a line with the array's length, which every
    // bounds check reads.
    [FieldOffset(64)]
    public int Count;
}

/// <summary>A closing of the gate: set while it is closed, and the two things waited for.</summary>
internal sealed class GateClosing
{
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
    /// <summary>The stripe the calling thread uses; threads that run at once should mostly get different ones.</summary>
    static abstract int CurrentStripe(int mask);

    /// <summary>An interlocked add: atomic, and a full fence.</summary>
    static abstract void Add(GateStripe[] stripes, int index, int delta);

    static abstract int Load(GateStripe[] stripes, int index);

    static abstract GateClosing? Load(ref GateClosing? field, object owner);

    static abstract void Store(ref GateClosing? field, object owner, GateClosing? value);

    /// <summary>A full fence.</summary>
    static abstract void Fence();

    /// <summary>Completes a signal: an interlocked operation, so also a full fence.</summary>
    static abstract bool TrySignal(TaskCompletionSource signal);
}

/// <summary>The real memory: volatile accesses and interlocked operations.</summary>
internal readonly struct HardwareMemory : IGateMemory
{
    /// <summary>
    /// The 1 MiB region of the stack the caller runs on. Thread stacks are disjoint mappings (1.5
    /// MiB each for .NET's threads), so threads that run at once land in different regions, and
    /// one thread keeps its stripe, whose cache line then stays in its core's cache. It is free to
    /// compute, where a thread-static index or <see cref="Thread.GetCurrentProcessorId"/> costs a
    /// thread-local lookup (a call into the TLS resolver, about 3.5 ns here, more than the
    /// interlocked add itself). Two threads that share a stripe only share a cache line: every
    /// update is interlocked, so that never costs correctness.
    /// </summary>
    public static unsafe int CurrentStripe(int mask)
    {
        byte marker = 0;
        return (int)((nuint)(&marker) >> 20) & mask;
    }

    public static void Add(GateStripe[] stripes, int index, int delta) => Interlocked.Add(ref stripes[index].Count, delta);

    public static int Load(GateStripe[] stripes, int index) => Volatile.Read(ref stripes[index].Count);

    public static GateClosing? Load(ref GateClosing? field, object owner) => Volatile.Read(ref field);

    public static void Store(ref GateClosing? field, object owner, GateClosing? value) => Volatile.Write(ref field, value);

    public static void Fence() => Interlocked.MemoryBarrier();

    public static bool TrySignal(TaskCompletionSource signal) => signal.TrySetResult();
}
