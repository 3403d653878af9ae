using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;

namespace Crac.Benchmarks;

/// <summary>
/// What passing through a <see cref="CheckpointGate"/> costs, against the read path of an
/// uncontended ReaderWriterLockSlim, a lock and an empty call, on one thread and on two at once.
/// Every candidate is one non-inlined call per enter/exit pair, as at a real call site (a loop
/// around inlined code would let the JIT hoist per-call work out of it), and is timed over
/// millions of passes per run; the candidates alternate run by run.
/// </summary>
internal static class GateBenchmarks
{
    private const int Runs = 15;
    private const int PassesPerThread = 4_000_000;

    public static string Run()
    {
        var report = new StringBuilder();
        foreach (int threads in new[] { 1, 2 })
        {
            Candidate[] candidates =
            [
                new RwLockRead(), new GatePass(), new MonitorLock(), new EmptyCall(),
            ];
            IReadOnlyList<Samples> samples = Measure(candidates, threads);
            report.Append(Harness.Table(
                $"Enter and exit, {threads} thread{(threads == 1 ? string.Empty : "s")} at once, time per pass per thread",
                samples));
            double rw = samples[0].Median, gate = samples[1].Median, empty = samples[3].Median;
            report.Append(CultureInfo.InvariantCulture,
                $"\nThe gate is {rw / gate:0.0}x cheaper than the ReaderWriterLockSlim read path; over an empty call, {(rw - empty) / (gate - empty):0.0}x.\n");
        }

        // What a passage is made of, and what the striped design (threads beyond the slots) pays instead.
        Candidate[] parts = [new EmptyCall(), new StackLaneLookup(), new ThreadStaticRead(), new InterlockedPair()];
        report.Append(Harness.Table("The parts of a passage (design alternatives), 1 thread, time per call", Measure(parts, 1)));
        report.Append(CultureInfo.InvariantCulture, $"\nClosing pays a process-wide barrier (membarrier) instead: {ProcessWideBarrierMicroseconds():0.0} µs a call (median of 1,000).\n");
        return report.ToString();
    }

    private static IReadOnlyList<Samples> Measure(Candidate[] candidates, int threads)
    {
        foreach (Candidate candidate in candidates)
        {
            // Long enough for tiered compilation to reach the optimized code.
            Time(candidate, threads);
            Thread.Sleep(200);
            Time(candidate, threads);
        }

        return Harness.Alternate(Runs, [.. candidates.Select(c => (c.Name, (Func<double>)(() => Time(c, threads))))])
            .Select(s => s with { Unit = "ns" })
            .ToArray();
    }

    /// <summary>Runs the candidate on <paramref name="threads"/> threads at once; returns nanoseconds per pass per thread.</summary>
    private static double Time(Candidate candidate, int threads)
    {
        using var start = new Barrier(threads + 1);
        var workers = Enumerable.Range(0, threads).Select(_ => new Thread(() =>
        {
            start.SignalAndWait();
            candidate.Run(PassesPerThread);
        })).ToArray();
        foreach (Thread worker in workers)
        {
            worker.Start();
        }

        start.SignalAndWait();
        long started = Stopwatch.GetTimestamp();
        foreach (Thread worker in workers)
        {
            worker.Join();
        }

        return Stopwatch.GetElapsedTime(started).TotalNanoseconds / PassesPerThread;
    }

    private abstract class Candidate(string name)
    {
        public string Name { get; } = name;

        public abstract void Run(int passes);
    }

    private sealed class EmptyCall() : Candidate("empty call")
    {
        private readonly object _target = new();

        public override void Run(int passes)
        {
            for (int i = 0; i < passes; i++)
            {
                Pass(_target);
            }
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        private static void Pass(object target)
        {
        }
    }

    private sealed class GatePass() : Candidate("CheckpointGate enter/exit")
    {
        private readonly CheckpointGate _gate = new("benchmark");

        public override void Run(int passes)
        {
            for (int i = 0; i < passes; i++)
            {
                Pass(_gate);
            }
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        private static void Pass(CheckpointGate gate)
        {
            using (gate.Enter())
            {
            }
        }
    }

    private sealed class RwLockRead() : Candidate("ReaderWriterLockSlim read lock")
    {
        private readonly ReaderWriterLockSlim _lock = new();

        public override void Run(int passes)
        {
            for (int i = 0; i < passes; i++)
            {
                Pass(_lock);
            }
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        private static void Pass(ReaderWriterLockSlim rw)
        {
            rw.EnterReadLock();
            try
            {
            }
            finally
            {
                rw.ExitReadLock();
            }
        }
    }

    private sealed class MonitorLock() : Candidate("lock")
    {
        private readonly object _lock = new();

        public override void Run(int passes)
        {
            for (int i = 0; i < passes; i++)
            {
                Pass(_lock);
            }
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        private static void Pass(object sync)
        {
            lock (sync)
            {
            }
        }
    }

    private sealed class StackLaneLookup() : Candidate("the lane of the stack's page (the gate's lookup)")
    {
        private readonly Lifecycle.GateSlot[] _lanes = new Lifecycle.GateSlot[(1 << Lifecycle.StackLanes.LaneBits) + 1];

        public override void Run(int passes)
        {
            int sum = 0;
            for (int i = 0; i < passes; i++)
            {
                sum += Lookup(_lanes);
            }

            GC.KeepAlive(sum);
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        private static int Lookup(Lifecycle.GateSlot[] lanes)
        {
            int home = Lifecycle.StackLanes.HomeOf(Lifecycle.StackLanes.CurrentPage());
            return Lifecycle.StackLanes.IsCurrent(lanes, home) ? home : Lifecycle.StackLanes.FindOrTag(lanes, Lifecycle.StackLanes.CurrentPage());
        }
    }

    private sealed class ThreadStaticRead() : Candidate("a [ThreadStatic] index (the previous design's lookup)")
    {
        [ThreadStatic]
        private static int t_index;

        public override void Run(int passes)
        {
            t_index = passes;
            int sum = 0;
            for (int i = 0; i < passes; i++)
            {
                sum += Lookup();
            }

            GC.KeepAlive(sum);
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        private static int Lookup() => t_index;
    }

    private sealed class InterlockedPair() : Candidate("an interlocked add and its undo on a line of its own")
    {
        private readonly int[] _padded = new int[64];

        public override void Run(int passes)
        {
            for (int i = 0; i < passes; i++)
            {
                Pass(_padded);
            }
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        private static void Pass(int[] padded)
        {
            Interlocked.Increment(ref padded[32]);
            Interlocked.Decrement(ref padded[32]);
        }
    }

    private static double ProcessWideBarrierMicroseconds()
    {
        var samples = new double[1_000];
        for (int i = 0; i < samples.Length; i++)
        {
            long started = Stopwatch.GetTimestamp();
            Lifecycle.ProcessWideBarrier.Run();
            samples[i] = Stopwatch.GetElapsedTime(started).TotalMicroseconds;
        }

        Array.Sort(samples);
        return samples[samples.Length / 2];
    }
}
