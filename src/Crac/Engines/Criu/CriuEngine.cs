using Crac.Configuration;
using Crac.Interop;

namespace Crac.Engines.Criu;

/// <summary>
/// Real checkpoint and restore through CRIU. When the tool asked for the checkpoint, the process
/// only prepares and waits: the privileged tool runs CRIU (the application may be unprivileged).
/// When the application asked (Core.CheckpointRestore), it runs CRIU on itself and must have
/// the privileges. Both use <see cref="CriuDump"/> and the settings the preflight resolved.
/// </summary>
internal sealed class CriuEngine : CheckpointEngine
{
    // `dotnet crac restore` leaves the restorer's environment and arguments before CRIU runs; a
    // restorer that only wakes the process over the channel gets this long to do so.
    private static readonly TimeSpan RestoreWakeTimeout = TimeSpan.FromSeconds(2);

    // How soon a process that dumped itself notices it was restored (each poll reads CRIU's exit
    // file, and misses by an exception until it is there). A process parked for the tool polls at
    // Rendezvous.PollDelay instead: its restore's first response waits on that poll.
    private static readonly TimeSpan SelfDumpPollInterval = TimeSpan.FromMilliseconds(5);

    public override string Name => "criu";

    public override string Summary => "checkpoints the process into an image with CRIU; dotnet crac restore <dir> brings it back";

    public override IReadOnlyList<EngineOptionDefinition> OptionDefinitions => CriuCommandLine.Options;

    public override bool SupportsKeepRunning => true;

    /// <summary>
    /// By default (auto) the heap is compacted when the process becomes an image and exits, not
    /// when it keeps running: there the compacting GC's pause adds to the freeze the application
    /// sees, for an image it does not need to be small at once.
    /// </summary>
    public override bool CompactsHeap(EngineOptionValues options, bool keepRunning) => CriuSettings.ParseSwitch(options, "compact-heap") switch
    {
        OptionSwitch.On => true,
        OptionSwitch.Off => false,
        OptionSwitch.Auto => !keepRunning,
    };

    public override EnginePlan Preflight(ResolvedCheckpointOptions options, CheckpointTrigger trigger)
    {
        var problems = new List<Exception>();
        CriuSettings settings;
        try
        {
            settings = CriuSettings.Resolve(options.EngineOptions, Environment.ProcessId);
        }
        catch (ArgumentException exception)
        {
            problems.Add(exception);
            settings = CriuSettings.Resolve(EngineOptionValues.Parse(Name, OptionDefinitions, null), Environment.ProcessId);
        }

        if (Libc.getsid(0) == 0)
        {
            // CRIU reads the session through the process itself and refuses a leader it cannot see (cr-dump.c).
            problems.Add(new CriuException(
                $"CRIU cannot dump process {Environment.ProcessId}: its session leader is outside its PID namespace (getsid reads 0), " +
                "and CRIU only dumps a process whose session leader is inside it. Start the application in a session of its own: " +
                "`setsid dotnet app.dll`, `dotnet crac run -- ...`, a systemd service, or a container runtime that makes the container's first process a session leader."));
        }

        if (trigger == CheckpointTrigger.Api && Environment.ProcessId == 1)
        {
            // Every process of a pid namespace descends from its pid 1, so the CRIU this process
            // starts would be in the tree it dumps, which CRIU refuses ("The criu itself is within dumped tree").
            problems.Add(new CriuException(
                "This process is pid 1 of its pid namespace (a container's first process, or `dotnet crac run`'s default), and CRIU cannot dump the tree it runs in. " +
                "Checkpoint it from outside, with `dotnet crac checkpoint <pid>` on the host or in a sidecar, or start it with `dotnet crac run --pid-namespace shared`."));
        }

        return new CriuPlan(problems, settings, CracSettings.NullIfEmpty(options.EngineOptions.GetString("criu-path")));
    }

    public override IReadOnlyList<string>? DescribeCommand(ResolvedCheckpointOptions options, EnginePlan plan, FdSummary summary) =>
        ["criu", .. CriuCommandLine.Dump(Environment.ProcessId, options.ImageDirectory ?? "<image dir>", ((CriuPlan)plan).Settings.ForDump(summary), options.KeepRunning)];

    public override async Task<EngineResult> CheckpointAsync(EngineRequest request)
    {
        var plan = (CriuPlan)request.Plan;
        ImageMetadata metadata = ImageMetadata.Capture(Name, request.Generation, criuVersion: null) with { Limits = request.Options.Limits };
        return request.Trigger == CheckpointTrigger.Agent
            ? await WaitForToolAsync(request, plan, metadata).ConfigureAwait(false)
            : await DumpSelfAsync(request, plan, metadata).ConfigureAwait(false);
    }

    private static async Task<EngineResult> WaitForToolAsync(EngineRequest request, CriuPlan plan, ImageMetadata metadata)
    {
        ResolvedCheckpointOptions options = request.Options;
        string directory = options.ImageDirectory!;
        var detector = new RestoreDetector();
        Task<RestoreSignal> wake = RestoreGate.Arm();
        request.Observer?.OnWaitingForDump(new DumpInstructions
        {
            ImageDirectory = directory,
            KeepRunning = options.KeepRunning,
            Settings = plan.Settings.ForDump(request.FdSummary),
            CriuPath = plan.CriuPath,
            DumpTimeout = options.Limits.DumpTimeout,
            Metadata = metadata,
        });

        // If the tool dies before it dumps, the process must not wait for ever: it rolls back.
        TimeSpan limit = options.Limits.DumpWait;
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (!wake.IsCompleted)
        {
            // Restored: the restorer's hand-over is there, or (a plain `criu restore`) CRIU gave the
            // process a new time namespace. The hand-over is looked for first: a later restore's
            // namespace can reuse the inode number the detector remembers.
            RestoreContext? handOver = RestoreGate.RestoreContextReader?.Invoke();
            if (handOver is not null || detector.Restored)
            {
                return await RestoredAsync(wake, directory, handOver).ConfigureAwait(false);
            }

            if (waited.Elapsed > limit)
            {
                RestoreGate.Disarm();
                return EngineResult.Failed(new TimeoutException(
                    $"dotnet crac did not dump the process within {CracSettings.FormatTimeout(limit)} of it being ready (did the tool exit?). The checkpoint is abandoned."), directory);
            }

            await Task.WhenAny(wake, Task.Delay(Protocol.Rendezvous.PollDelay(waited.Elapsed))).ConfigureAwait(false);
        }

        return ToResult(await wake.ConfigureAwait(false), directory);
    }

    /// <summary>
    /// In a restored process: the restorer's hand-over is read at once if it left one; otherwise
    /// the restorer may still wake it over the channel, for a moment.
    /// </summary>
    private static async Task<EngineResult> RestoredAsync(Task<RestoreSignal> wake, string directory, RestoreContext? handOver = null)
    {
        RestoreContext? context = handOver ?? RestoreGate.RestoreContextReader?.Invoke();
        if (context is null)
        {
            await Task.WhenAny(wake, Task.Delay(RestoreWakeTimeout)).ConfigureAwait(false);
            context = wake.IsCompleted ? wake.Result.Context : null;
        }

        RestoreGate.Disarm();
        return new EngineResult(EngineResultKind.Restored)
        {
            ImageDirectory = directory,
            Restore = context ?? new RestoreContext(null, null, null),
        };
    }

    private static async Task<EngineResult> DumpSelfAsync(EngineRequest request, CriuPlan plan, ImageMetadata metadata)
    {
        ResolvedCheckpointOptions options = request.Options;
        string directory = options.ImageDirectory!;
        CriuSettings settings = plan.Settings.ForDump(request.FdSummary);
        CriuBinary criu;
        try
        {
            criu = CriuBinary.Locate(plan.CriuPath);
            CriuDump.Prepare(criu, directory, metadata, settings);
        }
        catch (Exception exception) when (exception is CriuUnavailableException or InvalidOperationException or IOException or UnauthorizedAccessException)
        {
            return EngineResult.Failed(exception, directory);
        }

        var detector = new RestoreDetector();
        Task<RestoreSignal> wake = RestoreGate.Arm();
        try
        {
            CriuDump.LaunchSelfDump(criu, directory, settings, options.KeepRunning);
        }
        catch (Exception exception) when (exception is CriuException or System.ComponentModel.Win32Exception)
        {
            RestoreGate.Disarm();
            return EngineResult.Failed(exception, directory);
        }

        // This thread is frozen in the image; after a restore it carries on from here.
        TimeSpan limit = options.Limits.DumpWait;
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (!wake.IsCompleted)
        {
            RestoreContext? handOver = RestoreGate.RestoreContextReader?.Invoke();
            if (handOver is not null || detector.Restored)
            {
                return await RestoredAsync(wake, directory, handOver).ConfigureAwait(false);
            }

            if (CriuDump.SelfDumpExitCode(directory) is { } exitCode)
            {
                if (exitCode != 0)
                {
                    RestoreGate.Disarm();
                    return EngineResult.Failed(new CriuException(CriuDump.SelfDumpFailure(directory, exitCode)), directory);
                }

                if (options.KeepRunning)
                {
                    ImageManifest.Write(directory);
                    RestoreGate.Disarm();
                    return new EngineResult(EngineResultKind.KeptRunning) { ImageDirectory = directory };
                }

                // A successful dump without keep-running kills the original: this is a restored process.
                return await RestoredAsync(wake, directory).ConfigureAwait(false);
            }

            if (waited.Elapsed > limit)
            {
                RestoreGate.Disarm();
                return EngineResult.Failed(new TimeoutException(
                    $"CRIU did not finish dumping within {CracSettings.FormatTimeout(limit)}; see {Path.Combine(directory, CriuCommandLine.DumpLog)}."), directory);
            }

            await Task.WhenAny(wake, Task.Delay(SelfDumpPollInterval)).ConfigureAwait(false);
        }

        return ToResult(await wake.ConfigureAwait(false), directory);
    }

    private static EngineResult ToResult(RestoreSignal signal, string directory) => signal.Kind switch
    {
        ResumeKind.Restored => new EngineResult(EngineResultKind.Restored) { Restore = signal.Context, ImageDirectory = directory },
        ResumeKind.KeptRunning => new EngineResult(EngineResultKind.KeptRunning) { ImageDirectory = directory },
        ResumeKind.DumpFailed => EngineResult.Failed(new CriuException(signal.Failure ?? "The CRIU dump failed."), directory),
    };
}
