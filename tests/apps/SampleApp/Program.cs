using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Crac;

// A small service with checkpoint-aware resources, used by the README's demo and the end-to-end
// tests. Options turn on the situations a checkpoint must handle: a failing or slow resource,
// and descriptors left open (a file, sockets, a pipe to a child, an fd opened by native code).
var options = SampleOptions.Parse(args);
var resources = new List<IResource>();
for (int i = 1; i <= options.Resources; i++)
{
    resources.Add(new ConsoleResource($"resource-{i}"));
}

if (options.FailingResource || options.FailFirstCheckpoint)
{
    resources.Add(new FailingResource(options.FailFirstCheckpoint));
}

if (options.SlowResourceMilliseconds > 0)
{
    resources.Add(new SlowResource(options.SlowResourceMilliseconds));
}

foreach (IResource resource in resources)
{
    Core.GlobalContext.Register(resource);
}

var leaks = new List<IDisposable>();
if (options.LeakFile is { } leakFile)
{
    var stream = new FileStream(leakFile, FileMode.Append, FileAccess.Write, FileShare.Read);
    stream.Write("opened\n"u8);
    stream.Flush();
    leaks.Add(stream);
}

if (options.LeakListenerPort is { } port)
{
    var listener = new TcpListener(IPAddress.Loopback, port);
    listener.Start();
    leaks.Add(listener.Server);
    if (options.LeakConnection)
    {
        var client = new TcpClient();
        client.Connect(IPAddress.Loopback, port);
        leaks.Add(client);
        leaks.Add(listener.AcceptTcpClient());
    }
}

for (int i = 0; i < options.LeakMany; i++)
{
    leaks.Add(File.OpenRead(typeof(SampleOptions).Assembly.Location.Replace("SampleApp.dll", "SampleApp.deps.json")));
}

Process? child = null;
if (options.LeakPipe)
{
    child = Process.Start(new ProcessStartInfo("sleep", "3600") { RedirectStandardOutput = true });
}

if (options.LeakNativeFile is { } nativePath)
{
    int fd = Native.open(nativePath, 0x41 /* O_WRONLY|O_CREAT */ | 0x80000 /* O_CLOEXEC */, 0x180);
    Console.WriteLine($"native fd {fd}");
}

long counter = 0;
if (options.LeakGzipFile is { } gzipPath)
{
    // zlib opens the file itself: a descriptor created by native code.
    nint gz = Native.gzopen(gzipPath, "wb");
    Console.WriteLine($"gzip handle {gz}");
}

AppendingLog? appendingLog = options.AppendLog is { } logPath ? new AppendingLog(logPath) : null;
Core.SetRestoreEntryPoint(arguments =>
{
    Report($"entry-point args={string.Join(' ', arguments)}");
    return Task.CompletedTask;
});

if (options.OpenCloseCount > 0)
{
    // The fd-tracking benchmark: open and close one file many times, report the time per pair.
    string file = typeof(SampleOptions).Assembly.Location;
    for (int i = 0; i < 1000; i++)
    {
        File.OpenHandle(file).Dispose();
    }

    var stopwatch = Stopwatch.StartNew();
    for (int i = 0; i < options.OpenCloseCount; i++)
    {
        File.OpenHandle(file).Dispose();
    }

    Console.WriteLine($"open-close ns={stopwatch.Elapsed.TotalNanoseconds / options.OpenCloseCount:0}");
    return 0;
}

Console.WriteLine($"ready pid={Environment.ProcessId}");
Report("started");
using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.Cancel();
};

if (options.SelfCheckpoint)
{
    // What the app's own status predicts for the checkpoint it is about to take.
    Crac.Management.CracStatus before = Core.Status;
    Console.WriteLine($"self-checkpoint status: {before.Checkpointability}: {before.Reason}");
    try
    {
        await Core.CheckpointRestoreAsync();
        Report($"self-checkpoint returned generation={Core.Status.Generation}");
    }
    catch (CracException exception)
    {
        Report($"self-checkpoint failed: {exception.Message}");
        Console.Error.WriteLine(exception);
    }
}

while (!stop.IsCancellationRequested)
{
    counter++;
    appendingLog?.Write($"tick {counter}");
    if (counter % 10 == 0)
    {
        Console.WriteLine($"tick {counter} generation={Core.Status.Generation}");
    }

    try
    {
        await Task.Delay(100, stop.Token);
    }
    catch (OperationCanceledException)
    {
        break;
    }
}

child?.Kill();
GC.KeepAlive(resources);
GC.KeepAlive(leaks);
return options.ExitCode;

// State the tests read: one line per event, in a file opened and closed for each line.
void Report(string line)
{
    if (options.ReportFile is { } reportFile)
    {
        File.AppendAllText(reportFile, $"{line} counter={counter} generation={Core.Status.Generation} message={Environment.GetEnvironmentVariable("SAMPLE_MESSAGE")}\n");
    }
}

internal sealed class ConsoleResource(string name) : IResource
{
    public Task BeforeCheckpointAsync(Context context, CancellationToken cancellationToken)
    {
        Console.WriteLine($"{name}: before checkpoint");
        return Task.CompletedTask;
    }

    public Task AfterRestoreAsync(Context context, CancellationToken cancellationToken)
    {
        Console.WriteLine($"{name}: after restore");
        return Task.CompletedTask;
    }

    public override string ToString() => name;
}

/// <summary>Fails every checkpoint, or only the first (its transactions have finished by the second).</summary>
internal sealed class FailingResource(bool onlyFirst) : IResource
{
    private int _checkpoints;

    public Task BeforeCheckpointAsync(Context context, CancellationToken cancellationToken)
    {
        if (!onlyFirst || Interlocked.Increment(ref _checkpoints) == 1)
        {
            throw new InvalidOperationException("The database connection pool cannot be drained: 3 transactions are still open.");
        }

        Console.WriteLine("failing-resource: drained, ready for the checkpoint");
        return Task.CompletedTask;
    }

    public Task AfterRestoreAsync(Context context, CancellationToken cancellationToken)
    {
        Console.WriteLine("failing-resource: after restore");
        return Task.CompletedTask;
    }

    public override string ToString() => "failing-resource";
}

internal sealed class SlowResource(int milliseconds) : IResource
{
    public async Task BeforeCheckpointAsync(Context context, CancellationToken cancellationToken)
    {
        Console.WriteLine($"slow-resource: draining for {milliseconds} ms");
        await Task.Delay(milliseconds, cancellationToken);
    }

    public Task AfterRestoreAsync(Context context, CancellationToken cancellationToken) => Task.CompletedTask;

    public override string ToString() => "slow-resource";
}

/// <summary>A log kept open and appended to, closed and reopened by a resource policy around a checkpoint.</summary>
internal sealed class AppendingLog(string path)
{
    private readonly StreamWriter _writer = new(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read)) { AutoFlush = true };

    public void Write(string line) => _writer.WriteLine(line);
}

internal sealed record SampleOptions
{
    public int Resources { get; init; } = 3;

    public bool FailingResource { get; init; }

    public bool FailFirstCheckpoint { get; init; }

    public int SlowResourceMilliseconds { get; init; }

    public string? LeakFile { get; init; }

    public int? LeakListenerPort { get; init; }

    public bool LeakConnection { get; init; }

    public bool LeakPipe { get; init; }

    public string? LeakNativeFile { get; init; }

    public string? LeakGzipFile { get; init; }

    public string? AppendLog { get; init; }

    public int LeakMany { get; init; }

    public int OpenCloseCount { get; init; }

    public string? ReportFile { get; init; }

    public bool SelfCheckpoint { get; init; }

    /// <summary>What the app exits with when stopped (Ctrl+C): a supervisor must pass it on.</summary>
    public int ExitCode { get; init; }

    public static SampleOptions Parse(string[] args)
    {
        var options = new SampleOptions();
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => args[++i];
            options = args[i] switch
            {
                "--resources" => options with { Resources = int.Parse(Next(), CultureInfo.InvariantCulture) },
                "--failing-resource" => options with { FailingResource = true },
                "--fail-first-checkpoint" => options with { FailFirstCheckpoint = true },
                "--slow-resource" => options with { SlowResourceMilliseconds = int.Parse(Next(), CultureInfo.InvariantCulture) },
                "--leak-file" => options with { LeakFile = Next() },
                "--leak-listener" => options with { LeakListenerPort = int.Parse(Next(), CultureInfo.InvariantCulture) },
                "--leak-connection" => options with { LeakConnection = true },
                "--leak-pipe" => options with { LeakPipe = true },
                "--leak-native" => options with { LeakNativeFile = Next() },
                "--leak-gzip" => options with { LeakGzipFile = Next() },
                "--append-log" => options with { AppendLog = Next() },
                "--open-close" => options with { OpenCloseCount = int.Parse(Next(), CultureInfo.InvariantCulture) },
                "--leak-many" => options with { LeakMany = int.Parse(Next(), CultureInfo.InvariantCulture) },
                "--report-file" => options with { ReportFile = Next() },
                "--self-checkpoint" => options with { SelfCheckpoint = true },
                "--exit-code" => options with { ExitCode = int.Parse(Next(), CultureInfo.InvariantCulture) },
                _ => throw new ArgumentException($"Unknown option {args[i]}"),
            };
        }

        return options;
    }
}

internal static partial class Native
{
    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int open(string path, int flags, int mode);

    [LibraryImport("libz.so.1", StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint gzopen(string path, string mode);
}
