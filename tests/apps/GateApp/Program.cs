using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Crac;

// Units of work flow from a producer through a CheckpointGate to worker threads (and async
// workers) under load, while the process is checkpointed from outside. The app records every
// unit that ran inside the closed window and how many times each unit completed, and once told
// to stop (the stop file appears) it drains and reports: the end-to-end test reads that report.
var options = GateOptions.Parse(args);
var state = new GateState(options);
var gate = new CheckpointGate("units");
// Registered before the gate: notified after it has closed and drained, and before it reopens.
var window = new WindowMonitor(state);
// Registered after the gate: notified before it closes, with the work it will have to drain.
var closing = new CloseMonitor(state);
Core.GlobalContext.Register(window);
Core.GlobalContext.Register(gate);
Core.GlobalContext.Register(closing);
using var progress = new CheckpointPeriodicTimer(TimeSpan.FromMilliseconds(250), "progress");
Core.GlobalContext.Register(progress);

var producer = new Thread(() => Produce(state, options)) { IsBackground = true, Name = "producer" };
var workers = Enumerable.Range(0, options.Workers).Select(i => new Thread(() => Work(state, gate, options.BypassGate)) { IsBackground = true, Name = "worker-" + i }).ToList();
producer.Start();
workers.ForEach(w => w.Start());
Task[] asyncWorkers = [.. Enumerable.Range(0, options.AsyncWorkers).Select(_ => Task.Run(() => WorkAsync(state, gate, options.BypassGate)))];

Console.WriteLine($"ready pid={Environment.ProcessId}");
state.Report($"started membarrier-registrations={Membarrier.Registrations()}");
while (await progress.WaitForNextTickAsync())
{
    Console.WriteLine($"progress completed={state.Completed} generation={Core.Status.Generation}");
    if (File.Exists(options.StopFile))
    {
        break;
    }
}

state.StopProducing = true;
producer.Join();
// Every unit produced is completed, or was lost: wait until nothing is queued or in flight.
var drain = Stopwatch.StartNew();
while ((state.Queued > 0 || state.Pending > 0) && drain.Elapsed < TimeSpan.FromSeconds(20))
{
    Thread.Sleep(10);
}

state.StopWorking = true;
workers.ForEach(w => w.Join());
Task.WaitAll(asyncWorkers);
state.Report("final " + state.Summary());
GC.KeepAlive(new object[] { gate, window, closing });
return 0;

static void Produce(GateState state, GateOptions options)
{
    while (!state.StopProducing && state.Produced < GateState.Capacity)
    {
        // About 4,500 units a second against room for about 6,000 (300 µs each on two cores):
        // the gate is rarely empty, and the queue never runs away.
        for (int i = 0; i < 5; i++)
        {
            state.Enqueue();
        }

        Thread.Sleep(1);
    }
}

static void Work(GateState state, CheckpointGate gate, bool bypass)
{
    while (!state.StopWorking)
    {
        if (!state.TryDequeue(out int unit))
        {
            Thread.Sleep(1);
            continue;
        }

        state.Waiting(+1);
        CheckpointGate.Scope scope = bypass ? default : gate.Enter();
        state.Waiting(-1);
        using (scope)
        {
            state.Run(unit, TimeSpan.FromMicroseconds(300));
        }
    }
}

static async Task WorkAsync(GateState state, CheckpointGate gate, bool bypass)
{
    while (!state.StopWorking)
    {
        if (!state.TryDequeue(out int unit))
        {
            await Task.Delay(1);
            continue;
        }

        state.Waiting(+1);
        CheckpointGate.Scope scope = bypass ? default : await gate.EnterAsync();
        state.Waiting(-1);
        using (scope)
        {
            // The scope is left on whichever pool thread resumes here.
            await Task.Yield();
            state.Run(unit, TimeSpan.FromMicroseconds(300));
        }
    }
}

internal sealed class GateState(GateOptions options)
{
    public const int Capacity = 1_000_000;

    private readonly ConcurrentQueue<int> _queue = new();
    private readonly int[] _completions = new int[Capacity + 1];
    private int _produced;
    private long _completed;
    private int _inside;
    private int _waiting;
    private int _violations;
    private volatile bool _windowOpen;
    private long _windowStart;
    private long _windowEnd = long.MaxValue;
    private volatile bool _stopProducing;
    private volatile bool _stopWorking;

    public int Produced => Volatile.Read(ref _produced);

    public long Completed => Interlocked.Read(ref _completed);

    public int Queued => _queue.Count;

    public long Pending => Produced - Completed;

    public int Inside => Volatile.Read(ref _inside);

    public int WaitingAtGate => Volatile.Read(ref _waiting);

    public bool StopProducing { get => _stopProducing; set => _stopProducing = value; }

    public bool StopWorking { get => _stopWorking; set => _stopWorking = value; }

    public int InsideAtWindowStart { get; set; } = -1;

    public int InFlightAtClose { get; set; } = -1;

    public int WaitingAtWindowEnd { get; set; } = -1;

    public long CompletedAtWindowEnd { get; set; } = -1;

    public int Windows { get; set; }

    public void Enqueue() => _queue.Enqueue(Interlocked.Increment(ref _produced));

    public bool TryDequeue(out int unit) => _queue.TryDequeue(out unit);

    public void Waiting(int delta) => Interlocked.Add(ref _waiting, delta);

    public void OpenWindow()
    {
        InsideAtWindowStart = Inside;
        Volatile.Write(ref _windowEnd, long.MaxValue);
        Volatile.Write(ref _windowStart, Stopwatch.GetTimestamp());
        _windowOpen = true;
        Windows++;
    }

    public void CloseWindow()
    {
        WaitingAtWindowEnd = WaitingAtGate;
        CompletedAtWindowEnd = Completed;
        _windowOpen = false;
        Volatile.Write(ref _windowEnd, Stopwatch.GetTimestamp());
    }

    /// <summary>One unit of work: checked against the closed window by flag and by time, then counted.</summary>
    public void Run(int unit, TimeSpan duration)
    {
        Interlocked.Increment(ref _inside);
        long started = Stopwatch.GetTimestamp();
        if (_windowOpen)
        {
            Interlocked.Increment(ref _violations);
        }

        long end = started + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        while (Stopwatch.GetTimestamp() < end)
        {
            Thread.SpinWait(20);
        }

        long ended = Stopwatch.GetTimestamp();
        // CRIU restores into a new time namespace: the monotonic clock runs on from the checkpoint.
        long windowStart = Volatile.Read(ref _windowStart);
        if (_windowOpen || (windowStart != 0 && ended > windowStart && started < Volatile.Read(ref _windowEnd)))
        {
            Interlocked.Increment(ref _violations);
        }

        Interlocked.Increment(ref _completions[unit]);
        Interlocked.Decrement(ref _inside);
        Interlocked.Increment(ref _completed);
    }

    public string Summary()
    {
        int produced = Produced;
        int lost = 0, duplicated = 0;
        for (int unit = 1; unit <= produced; unit++)
        {
            int count = Volatile.Read(ref _completions[unit]);
            lost += count == 0 ? 1 : 0;
            duplicated += count > 1 ? 1 : 0;
        }

        return string.Create(CultureInfo.InvariantCulture,
            $"produced={produced} completed={Completed} lost={lost} duplicated={duplicated} violations={Volatile.Read(ref _violations)} " +
            $"windows={Windows} inside-at-window-start={InsideAtWindowStart} in-flight-at-close={InFlightAtClose} " +
            $"waiting-at-window-end={WaitingAtWindowEnd} completed-after-window={Completed - CompletedAtWindowEnd} generation={Core.Status.Generation} " +
            $"bypass={options.BypassGate}");
    }

    /// <summary>One line per event, in a file opened and closed for each line (nothing stays open for CRIU).</summary>
    public void Report(string line) => File.AppendAllText(options.ReportFile, line + "\n");
}

internal sealed class WindowMonitor(GateState state) : IResource
{
    public Task BeforeCheckpointAsync(Context context, CancellationToken cancellationToken)
    {
        state.OpenWindow();
        return Task.CompletedTask;
    }

    public Task AfterRestoreAsync(Context context, CancellationToken cancellationToken)
    {
        state.CloseWindow();
        state.Report($"restored generation={Core.Status.Generation} waiting-at-window-end={state.WaitingAtWindowEnd} membarrier-registrations={Membarrier.Registrations()}");
        return Task.CompletedTask;
    }
}

internal sealed class CloseMonitor(GateState state) : IResource
{
    public Task BeforeCheckpointAsync(Context context, CancellationToken cancellationToken)
    {
        state.InFlightAtClose = state.Inside;
        return Task.CompletedTask;
    }

    public Task AfterRestoreAsync(Context context, CancellationToken cancellationToken) => Task.CompletedTask;
}

internal sealed record GateOptions
{
    public int Workers { get; init; } = 4;

    public int AsyncWorkers { get; init; } = 2;

    public bool BypassGate { get; init; }

    public required string ReportFile { get; init; }

    public required string StopFile { get; init; }

    public static GateOptions Parse(string[] args)
    {
        string? report = null, stop = null;
        int workers = 4, asyncWorkers = 2;
        bool bypass = false;
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => args[++i];
            switch (args[i])
            {
                case "--report-file": report = Next(); break;
                case "--stop-file": stop = Next(); break;
                case "--workers": workers = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--async-workers": asyncWorkers = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                // Skips the gate: shows what the checks report when nothing quiesces the work.
                case "--bypass-gate": bypass = true; break;
                default: throw new ArgumentException($"Unknown option {args[i]}");
            }
        }

        return new GateOptions
        {
            Workers = workers,
            AsyncWorkers = asyncWorkers,
            BypassGate = bypass,
            ReportFile = report ?? throw new ArgumentException("--report-file is required"),
            StopFile = stop ?? throw new ArgumentException("--stop-file is required"),
        };
    }
}

/// <summary>
/// What the process is registered for with membarrier(2) (MEMBARRIER_CMD_GET_REGISTRATIONS, Linux
/// 6.3+): the gate's close needs the private expedited barrier (bit 4), which the runtime registers at
/// start and a restored process has only if CRIU restored it (or the gate registered it again).
/// </summary>
internal static partial class Membarrier
{
    private const long GetRegistrations = 1 << 9;

    public static long Registrations() =>
        syscall(System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture == System.Runtime.InteropServices.Architecture.Arm64 ? 283 : 324, GetRegistrations, 0, 0);

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern long syscall(long number, long command, long flags, long cpu);
}
