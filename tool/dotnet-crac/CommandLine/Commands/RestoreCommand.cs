using System.Collections;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Crac.Configuration;
using Crac.Diagnostics;
using Crac.Engines;
using Crac.Engines.Criu;
using Crac.Interop;
using Crac.Protocol;
using Crac.Tool.Agent;
using Crac.Tool.Criu;
using Crac.Tool.Inspect;
using Crac.Tool.Output;

namespace Crac.Tool.CommandLine.Commands;

/// <summary>
/// <c>dotnet crac restore &lt;image-dir&gt; [-- args]</c>: checks the image (owner and modes, CPU,
/// runtime, pid), restores it with CRIU (or wakes a paused process), hands the restored process
/// this shell's environment and the new arguments, and reports how long it took.
/// </summary>
internal static class RestoreCommand
{
    private static readonly TimeSpan ZombieWait = TimeSpan.FromSeconds(3);

    // CRIU restored a 190 MB image in 344 ms: a restore still running after this has gone wrong.
    private static readonly TimeSpan RestoreTimeout = TimeSpan.FromMinutes(2);

    public static Command Create()
    {
        var command = new Command("restore", "Restores a process from a checkpoint image (criu), or wakes one paused by the pause engine.");
        var directoryArgument = new Argument<string>("image-dir") { Description = "The image directory the checkpoint wrote." };
        var newArguments = new Argument<string[]>("arguments")
        {
            Description = "New arguments for the application's restore entry point, after --.",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var criuPath = CriuOptions.CriuPathOption();
        var format = CommonOptions.FormatOption();
        var output = new Option<string?>("--output")
        {
            Description = "Where a detached restored process writes its stdout and stderr (appended; default: where they went at checkpoint time if that was a file, else /dev/null).",
        };
        var foreground = new Option<bool>("--foreground")
        {
            Description = "Stay as the restored process's supervisor until it exits: forward SIGTERM, SIGINT and SIGHUP to it and exit with its exit code (a container entrypoint, a systemd Type=simple service).",
        };
        var orStart = new Option<bool>("--or-start")
        {
            Description = "When the image cannot be used (CPU, runtime, CRIU, pid, a changed or unsafe image, a missing label), start the command after -- cold instead, saying why.",
        };
        var requireLabels = new Option<string[]>("--require-label")
        {
            Description = "A key=value label the image must carry (repeatable); an image without it is refused.",
        };
        var lazyPages = new Option<string>("--lazy-pages")
        {
            Description = $"Restore the process before its memory is copied: CRIU's lazy-pages daemon serves each page on first touch (userfaultfd), the rest in the background. " +
                          $"auto: for images with {LazyPages.AutoThreshold >> 20} MiB of memory or more, where it is faster; true; false.",
            DefaultValueFactory = _ => "auto",
        };
        lazyPages.AcceptOnlyFromAmong("auto", "true", "false");
        var checkPages = new Option<string>("--check-pages")
        {
            Description = "When the image's memory pages are checked against its manifest: first, before CRIU starts (on every core); during, while CRIU restores (the process resumes only once they are found intact); " +
                          $"auto: first below {PagesVerdict.AlongsideFrom >> 20} MiB of memory, during above it and for a lazy restore.",
            DefaultValueFactory = _ => "auto",
        };
        checkPages.AcceptOnlyFromAmong("auto", "first", "during");
        command.Arguments.Add(directoryArgument);
        command.Arguments.Add(newArguments);
        command.Options.Add(criuPath);
        command.Options.Add(output);
        command.Options.Add(foreground);
        command.Options.Add(orStart);
        command.Options.Add(requireLabels);
        command.Options.Add(lazyPages);
        command.Options.Add(checkPages);
        command.Options.Add(format);
        CommandRunner.SetAction(command, (result, cancellationToken) =>
        {
            string[] trailing = result.GetValue(newArguments) ?? [];
            bool coldStart = result.GetValue(orStart);
            if (coldStart && trailing.Length == 0)
            {
                throw new ToolException(ReturnCode.ArgumentError, "--or-start needs the command to start cold after --: dotnet crac restore <image-dir> --or-start -- dotnet app.dll");
            }

            var restore = new Restore(
                Path.GetFullPath(result.GetValue(directoryArgument)!), coldStart ? [] : trailing, result.GetValue(criuPath),
                result.GetValue(output) is { } file ? Path.GetFullPath(file) : null, result.GetValue(format))
            {
                Supervise = result.GetValue(foreground),
                ColdStart = coldStart ? trailing : null,
                RequiredLabels = ImageLabels.Parse(result.GetValue(requireLabels), "--require-label"),
                LazyPagesMode = result.GetValue(lazyPages)!,
                CheckPagesMode = result.GetValue(checkPages)!,
            };
            return restore.ExecuteAsync(cancellationToken);
        });
        return command;
    }

    private sealed class Restore(string directory, string[] arguments, string? criuPath, string? outputFile, OutputFormat format)
    {
        // Where a detached restored process writes: set by the restore, reported with it.
        private StdioFiles? _stdio;

        // What checking the image against its manifest found.
        private ManifestCheck? _manifest;

        // The memory pages' check running while CRIU restores, and what CRIU's environment needs for the action script that waits for it.
        private ImageManifest.PagesCheck? _pagesDuringRestore;
        private IReadOnlyDictionary<string, string>? _criuEnvironment;

        // Set once CRIU has brought the process back: from then on a failure is no reason to start cold.
        private bool _restored;

        // A lazy restore's daemon, serving the restored process's memory; or why auto could not restore lazily.
        private LazyPages? _lazyPages;
        private string? _lazyNotPossible;
        private long _pagesBytes;

        /// <summary>--foreground: stay until the restored process exits, forward signals, exit with its code.</summary>
        public bool Supervise { get; init; }

        /// <summary>--or-start: the command to start cold when the image cannot be used.</summary>
        public string[]? ColdStart { get; init; }

        public IReadOnlyDictionary<string, string> RequiredLabels { get; init; } = new Dictionary<string, string>();

        /// <summary>--lazy-pages: auto, true or false.</summary>
        public string LazyPagesMode { get; init; } = "auto";

        /// <summary>--check-pages: auto, first or during.</summary>
        public string CheckPagesMode { get; init; } = "auto";

        public async Task<ReturnCode> ExecuteAsync(CancellationToken cancellationToken)
        {
            try
            {
                return await RestoreAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (ToolException failure) when (ColdStart is not null && !_restored && ColdStarter.CanReplace(failure.Code))
            {
                return await new ColdStarter(ColdStart, outputFile, format).StartAsync(failure, Supervise, cancellationToken).ConfigureAwait(false);
            }
        }

        private async Task<ReturnCode> RestoreAsync(CancellationToken cancellationToken)
        {
            if (ImageDirectory.FindUnsafeOwnership(directory) is { } unsafeReason)
            {
                throw new ToolException(ReturnCode.ImageUnusable, $"Refusing to restore {directory}: {unsafeReason}");
            }

            ImageMetadata metadata;
            try
            {
                metadata = ImageMetadata.Read(directory);
            }
            catch (Exception exception) when (exception is InvalidDataException or System.Text.Json.JsonException or IOException)
            {
                throw new ToolException(ReturnCode.ImageUnusable, $"{directory} cannot be restored: {exception.Message}");
            }

            if (ImageLabels.Missing(RequiredLabels, metadata.Labels) is { Count: > 0 } missingLabels)
            {
                throw new ToolException(ReturnCode.LabelMissing,
                    $"Refusing to restore {directory}: it lacks the required label{(missingLabels.Count > 1 ? "s" : string.Empty)} {string.Join(", ", missingLabels)}. " +
                    "Restore an image checkpointed with them (checkpoint --label key=value), or require other labels.");
            }

            return metadata.Engine switch
            {
                "pause" => await WakePausedAsync(metadata, cancellationToken).ConfigureAwait(false),
                "criu" => await RestoreCriuAsync(metadata, cancellationToken).ConfigureAwait(false),
                _ => throw new ToolException(ReturnCode.ImageUnusable, $"{directory} holds a '{metadata.Engine}' image, which dotnet crac cannot restore."),
            };
        }

        private async Task<ReturnCode> WakePausedAsync(ImageMetadata metadata, CancellationToken cancellationToken)
        {
            string pidFile = Path.Combine(directory, PauseEngine.PidFileName);
            if (!File.Exists(pidFile) || !int.TryParse(File.ReadAllText(pidFile).Trim(), CultureInfo.InvariantCulture, out int pid))
            {
                throw new ToolException(ReturnCode.ImageUnusable, $"{directory} has no paused process: {pidFile} is missing (was it resumed already?).");
            }

            if (!TargetProcess.Exists(pid))
            {
                throw new ToolException(ReturnCode.ProcessNotFound, $"The paused process {pid} of {directory} no longer exists; there is nothing to resume.");
            }

            DateTimeOffset started = DateTimeOffset.UtcNow;
            var stopwatch = Stopwatch.StartNew();
            TargetProcess target = TargetProcess.Open(pid);
            return await WakeAndReportAsync(target, metadata, started, stopwatch, criuMilliseconds: null, detached: true, cancellationToken).ConfigureAwait(false);
        }

        private async Task<ReturnCode> RestoreCriuAsync(ImageMetadata metadata, CancellationToken cancellationToken)
        {
            // Before CRIU reads anything: it trusts what it parses, and loops for minutes on a truncated
            // file. The memory pages, which it only copies, are hashed from here on, while it restores.
            _manifest = ImageManifest.VerifyBeforeRestore(directory, out ImageManifest.PagesCheck? pagesCheck);
            using ImageManifest.PagesCheck? pages = pagesCheck;
            if (_manifest.Status == ManifestStatus.Changed)
            {
                throw new ToolException(ReturnCode.ImageUnusable, $"Refusing to restore {directory}: {_manifest.Problem}");
            }

            IReadOnlyList<string> missing = CpuFeatures.Missing(metadata.CpuFeatures);
            if (missing.Count > 0)
            {
                throw new ToolException(ReturnCode.ImageUnusable, $"Refusing to restore {directory}: {CpuFeatures.MissingMessage(missing)}");
            }

            if (!File.Exists(Path.Combine(metadata.RuntimeDirectory, "System.Private.CoreLib.dll"))
                || (metadata.ProcessPath is not null && !File.Exists(metadata.ProcessPath)))
            {
                throw new ToolException(ReturnCode.ImageUnusable,
                    $"Refusing to restore {directory}: the runtime it ran on ({metadata.Runtime} in {metadata.RuntimeDirectory}, host {metadata.ProcessPath}) is no longer installed here. " +
                    "Install that runtime version again, or take a new checkpoint on the installed one.");
            }

            string criu;
            try
            {
                (criu, _) = CriuBinary.Find(criuPath);
            }
            catch (CriuUnavailableException exception)
            {
                throw new ToolException(ReturnCode.CriuUnavailable, exception.Message + " (`dotnet crac doctor` checks the CRIU set-up)");
            }

            // An image with a pid namespace of its own gets a new one: its pids cannot collide.
            if (!metadata.OwnPidNamespace)
            {
                await WaitForPidAsync(metadata.Pid, "the checkpointed process", cancellationToken).ConfigureAwait(false);
                foreach (int child in metadata.ChildPids)
                {
                    await WaitForPidAsync(child, $"its child process {child}", cancellationToken).ConfigureAwait(false);
                }
            }

            // A process whose stdio was a terminal comes back into this terminal, in the foreground,
            // as `java -XX:CRaCRestoreFrom` does; so does any with --foreground, writing to our stdio;
            // any other comes back detached.
            bool interactive = metadata.Interactive && Libc.isatty(0) == 1 && Libc.isatty(1) == 1;
            bool foreground = interactive;
            CriuSettings settings = metadata.Criu ?? new CriuSettings { ShellJob = true };
            // An image without a manifest (taken by an older dotnet-crac, or by the process itself) is measured on disk.
            _pagesBytes = pages?.Bytes ?? Directory.EnumerateFiles(directory).Where(file => ImageManifest.IsMemoryPages(Path.GetFileName(file))).Sum(file => new FileInfo(file).Length);
            (bool lazy, _lazyNotPossible) = LazyPages.Choose(LazyPagesMode, _pagesBytes, () => CriuImageMemory.LargestPrivateArea(directory));
            if (_lazyNotPossible is not null && LazyPagesMode == "true")
            {
                throw new ToolException(ReturnCode.ImageUnusable,
                    $"Cannot restore {directory} with --lazy-pages true: {_lazyNotPossible}. Or restore it with --lazy-pages false, which copies all its memory first.");
            }

            string pidDirectory = Directory.CreateTempSubdirectory("dotnet-crac-restore-").FullName;
            Rendezvous? handOver = null;
            try
            {
                // Alongside: CRIU's action script holds the restored process until its pages are found
                // intact (PagesVerdict). First: a small image, or a temp directory mounted noexec, where
                // CRIU could not run the script.
                PagesVerdict? verdict = pages is null || !PagesVerdict.CheckAlongside(CheckPagesMode, pages.Bytes, lazy)
                    ? null
                    : PagesVerdict.Arm(pidDirectory, pages, RestoreTimeout);
                if (pages is not null && verdict is null)
                {
                    pages.UseAllCores();
                    _manifest = await pages.Result.ConfigureAwait(false) with { DuringRestore = null };
                    if (_manifest.Status == ManifestStatus.Changed)
                    {
                        throw new ToolException(ReturnCode.ImageUnusable, $"Refusing to restore {directory}: {_manifest.Problem}");
                    }
                }

                _pagesDuringRestore = verdict is null ? null : pages;
                _criuEnvironment = verdict?.Environment;
                string pidFile = Path.Combine(pidDirectory, "pid");
                List<string> criuArguments = CriuCommandLine.Restore(
                    directory, settings, detached: !foreground, pidFile, interactive ? [] : InheritedStdio(metadata),
                    // The image holds the mount namespace: CRIU rebuilds it on the root the process saw, this host's.
                    root: metadata.OwnMountNamespace ? "/" : null, actionScript: verdict?.ScriptPath, lazyPages: lazy);

                DateTimeOffset started = DateTimeOffset.UtcNow;
                var stopwatch = Stopwatch.StartNew();
                if (lazy)
                {
                    // An image without a manifest has no pages' check to speed up.
                    StartLazyPages(criu, settings);
                    pages?.UseAllCores();
                }

                // A container's process sees its temp directory only once restored: it is woken over the channel.
                handOver = metadata.OwnMountNamespace && !metadata.SharedTemporaryDirectory ? null : LeaveHandOver(metadata, started);
                if (!foreground)
                {
                    // A supervised process writes to our stdio (a container's log, the journal); a detached one never holds it.
                    _stdio = Supervise ? null : RouteStdio(metadata);
                    string output = Supervise
                        ? RunCriuAsSupervisor(criu, criuArguments, out int exitCode)
                        : CriuBinary.Run(criu, criuArguments, RestoreTimeout, out exitCode, _stdio, Path.Combine(directory, CriuCommandLine.RestoreLog), _criuEnvironment);
                    double criuMilliseconds = stopwatch.Elapsed.TotalMilliseconds;
                    if (exitCode != 0)
                    {
                        ImageDirectory.MakeFilesPrivate(directory);
                        throw RestoreFailed(criu, exitCode, output, metadata.Pid);
                    }

                    int pid = ReadPid(pidFile) ?? metadata.Pid;
                    await ConfirmPagesAsync(pid).ConfigureAwait(false);
                    _restored = true;

                    // The image's files are kept private while the restored process runs its after-restore, not before.
                    Task privacy = Task.Run(() => ImageDirectory.MakeFilesPrivate(directory), CancellationToken.None);
                    // From here on a signal to this supervisor is meant for the restored process.
                    using IDisposable? forwarding = Supervise ? SignalForwarding.To(pid) : null;
                    ReturnCode woken = handOver is not null
                        ? await ReportFromRendezvousAsync(handOver, pid, metadata, stopwatch, criuMilliseconds, detached: !Supervise, cancellationToken).ConfigureAwait(false)
                        : await WakeAndReportAsync(TargetProcess.Open(pid), metadata, started, stopwatch, criuMilliseconds, detached: !Supervise, cancellationToken).ConfigureAwait(false);
                    await privacy.ConfigureAwait(false);
                    return Supervise && woken == ReturnCode.Ok ? await SuperviseAsync(pid).ConfigureAwait(false) : woken;
                }

                return await RestoreInForegroundAsync(criu, criuArguments, pidFile, metadata, handOver, started, stopwatch, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                handOver?.Remove();
                Directory.Delete(pidDirectory, recursive: true);
                if (_restored)
                {
                    // The restored process still takes pages from it; it exits once they are all in.
                    _lazyPages?.Release();
                }
                else
                {
                    _lazyPages?.Dispose();
                }
            }
        }

        private void StartLazyPages(string criu, CriuSettings settings)
        {
            try
            {
                _lazyPages = LazyPages.Start(criu, directory, settings, TimeSpan.FromSeconds(10));
            }
            catch (CriuException exception)
            {
                throw new ToolException(ReturnCode.RestoreFailed, $"Cannot restore {directory} lazily: {exception.Message} Restore it with --lazy-pages false, which needs no daemon.");
            }
        }

        /// <summary>
        /// Leaves this shell's environment and the new arguments where the restored process reads
        /// them the moment CRIU has restored it (its rendezvous), so that it carries on at once;
        /// null when that directory cannot be made private to it (the channel wakes it then).
        /// </summary>
        private Rendezvous? LeaveHandOver(ImageMetadata metadata, DateTimeOffset started)
        {
            Rendezvous? rendezvous = Rendezvous.Prepare(Rendezvous.PathFor(metadata.Pid, metadata.TemporaryDirectory), metadata.Uid, out _);
            try
            {
                rendezvous?.Write(Rendezvous.Restore, RestoreRequest(started), CracJsonContext.Default.ResumeRequest);
                return rendezvous;
            }
            catch (IOException)
            {
                rendezvous?.Remove();
                return null;
            }
        }

        private ResumeRequest RestoreRequest(DateTimeOffset started)
        {
            var environment = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (DictionaryEntry variable in Environment.GetEnvironmentVariables())
            {
                environment[(string)variable.Key] = (string?)variable.Value ?? string.Empty;
            }

            return new ResumeRequest { Kind = ResumeKind.Restored, Environment = environment, Arguments = [.. arguments], RestoreStartedAt = started };
        }

        /// <summary>Waits at the rendezvous for the restored process's report of its after-restore, as long as the checkpoint's limits allow.</summary>
        private async Task<ReturnCode> ReportFromRendezvousAsync(
            Rendezvous rendezvous, int pid, ImageMetadata metadata, Stopwatch stopwatch, double criuMilliseconds, bool detached, CancellationToken cancellationToken)
        {
            CheckpointLimits limits = metadata.Limits ?? CheckpointLimits.For(CracSettings.DefaultTimeout);
            // Named from the image: a lazily restored process's command line (in its memory) may not be in yet.
            string display = $"{pid} ({TargetProcess.NameFrom(metadata.CommandLine)})";
            string? found = await rendezvous.WaitForAsync([Rendezvous.Report], limits.PassDeadline, () => !TargetProcess.IsLive(pid), cancellationToken).ConfigureAwait(false);
            OutcomeReply? outcome = found is null ? null : rendezvous.TryRead(Rendezvous.Report, CracJsonContext.Default.OutcomeReply, consume: true);
            if (outcome?.Report is not { } report)
            {
                throw !TargetProcess.IsLive(pid)
                    ? new ToolException(ReturnCode.RestoreFailed, $"Process {display} was restored from {directory} and then exited before its after-restore notifications ended.")
                    : new ToolException(ReturnCode.Timeout,
                        $"Process {display} was restored, but its after-restore notifications did not finish within {Formatting.Duration(limits.PassDeadline.TotalMilliseconds)} " +
                        $"(its checkpoint timeout of {CracSettings.FormatTimeout(limits.ResourceTimeout)} and the grace after it). It goes on; `dotnet crac status {pid}` shows where it stands.");
            }

            return Report(pid, display, metadata, report, report.Generation, stopwatch.Elapsed.TotalMilliseconds, criuMilliseconds, detached);
        }

        private async Task<ReturnCode> RestoreInForegroundAsync(
            string criu, List<string> criuArguments, string pidFile, ImageMetadata metadata, Rendezvous? handOver, DateTimeOffset started, Stopwatch stopwatch,
            CancellationToken cancellationToken)
        {
            using Process criuProcess = CriuBinary.StartPrivately(CriuStart(criu, criuArguments));
            string log = Path.Combine(directory, CriuCommandLine.RestoreLog);
            while (ReadPid(pidFile) is null && !criuProcess.HasExited)
            {
                if (stopwatch.Elapsed > RestoreTimeout || new FileInfo(log) is { Exists: true, Length: > CriuBinary.LogLimit })
                {
                    criuProcess.Kill(entireProcessTree: true);
                    await criuProcess.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
                    throw RestoreFailed(criu, -1, stopwatch.Elapsed > RestoreTimeout
                        ? $"CRIU did not restore the process within {RestoreTimeout.TotalSeconds:0} s and was stopped."
                        : $"CRIU was stopped: its log {log} passed {CriuBinary.LogLimit >> 20} MiB (CRIU loops on a damaged image this way).", metadata.Pid);
                }

                await Task.Delay(5, CancellationToken.None).ConfigureAwait(false);
            }

            if (ReadPid(pidFile) is not { } pid)
            {
                await criuProcess.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
                throw RestoreFailed(criu, criuProcess.ExitCode, string.Empty, metadata.Pid);
            }

            await ConfirmPagesAsync(pid).ConfigureAwait(false);
            _restored = true;
            double criuMilliseconds = stopwatch.Elapsed.TotalMilliseconds;
            ReturnCode woken = handOver is not null
                ? await ReportFromRendezvousAsync(handOver, pid, metadata, stopwatch, criuMilliseconds, detached: false, cancellationToken).ConfigureAwait(false)
                : await WakeAndReportAsync(TargetProcess.Open(pid), metadata, started, stopwatch, criuMilliseconds, detached: false, cancellationToken).ConfigureAwait(false);
            if (woken != ReturnCode.Ok)
            {
                return woken;
            }

            // CRIU stays until the restored process exits and passes on its exit code.
            await criuProcess.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
            return (ReturnCode)criuProcess.ExitCode;
        }

        /// <summary>
        /// --foreground: CRIU restores detached and exits, and the restored process, orphaned, comes
        /// to this process as its child subreaper. CRIU itself would only wait for it, and exit 0
        /// whatever its code. CRIU runs with our stdio, which the restored process's takes over.
        /// </summary>
        private string RunCriuAsSupervisor(string criu, List<string> criuArguments, out int exitCode)
        {
            if (Libc.prctl(Libc.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
            {
                throw new ToolException(ReturnCode.UnknownError, $"Cannot supervise the restored process: prctl(PR_SET_CHILD_SUBREAPER) failed: {Libc.LastErrorMessage()}");
            }

            using Process criuProcess = CriuBinary.StartPrivately(CriuStart(criu, criuArguments));
            if (CriuBinary.WaitBounded(criuProcess, RestoreTimeout, Path.Combine(directory, CriuCommandLine.RestoreLog)) is { } stopped)
            {
                criuProcess.Kill(entireProcessTree: true);
                criuProcess.WaitForExit();
                exitCode = -1;
                return stopped;
            }

            exitCode = criuProcess.ExitCode;
            return string.Empty;
        }

        /// <summary>CRIU's argument vector, and its environment with what the action script reads.</summary>
        private ProcessStartInfo CriuStart(string criu, List<string> criuArguments)
        {
            var start = new ProcessStartInfo(criu) { UseShellExecute = false };
            criuArguments.ForEach(start.ArgumentList.Add);
            foreach ((string name, string value) in _criuEnvironment ?? new Dictionary<string, string>())
            {
                start.Environment[name] = value;
            }

            return start;
        }

        /// <summary>
        /// After CRIU restored the process: the pages' check its action script waited for goes into
        /// the report. CRIU resumes the process only on a match, so any other verdict means the
        /// script did not hold it, and it is killed.
        /// </summary>
        private async Task ConfirmPagesAsync(int pid)
        {
            if (_pagesDuringRestore is null)
            {
                return;
            }

            ManifestCheck check = await _pagesDuringRestore.Result.ConfigureAwait(false);
            if (check.Status != ManifestStatus.Verified)
            {
                Libc.kill(pid, Libc.SIGKILL);
                throw new ToolException(ReturnCode.ImageUnusable, $"Refusing to restore {directory}: {check.Problem}");
            }

            _manifest = check;
        }

        /// <summary>Waits for the restored process (our adopted child) to exit and passes its exit code on.</summary>
        private async Task<ReturnCode> SuperviseAsync(int pid)
        {
            int exitCode = await Task.Run(() => Libc.WaitForExitCode(pid)).ConfigureAwait(false);
            if (exitCode < 0)
            {
                throw new ToolException(ReturnCode.UnknownError, $"The restored process {pid} is not this supervisor's child, so its exit code cannot be known.");
            }

            if (format == OutputFormat.Text)
            {
                Console.Error.WriteLine($"The restored process {pid} exited with code {exitCode}.");
            }

            return (ReturnCode)exitCode;
        }

        /// <summary>Wakes the restored (or paused) process over the channel with this shell's environment and the new arguments, then reports.</summary>
        private async Task<ReturnCode> WakeAndReportAsync(
            TargetProcess target, ImageMetadata metadata, DateTimeOffset started, Stopwatch stopwatch, double? criuMilliseconds, bool detached, CancellationToken cancellationToken)
        {
            var client = new AgentClient(target);
            ResumeReply reply = await client.ResumeAsync(RestoreRequest(started), cancellationToken).ConfigureAwait(false);
            if (!reply.Resumed)
            {
                throw new ToolException(ReturnCode.RestoreFailed,
                    $"Process {target.Display} was restored but did not wait to be woken (no checkpoint was waiting in it); its after-restore notifications did not run.");
            }

            CheckpointReportMessage? report = await WaitForAfterRestoreAsync(client, reply, cancellationToken).ConfigureAwait(false);
            // A checkpoint the application took itself has no outcome to ask for: its status tells the generation.
            int generation = report?.Generation
                ?? (await client.StatusAsync(cancellationToken).ConfigureAwait(false)).Generation;
            return Report(target.Pid, target.Display, metadata, report, generation, stopwatch.Elapsed.TotalMilliseconds, criuMilliseconds, detached);
        }

        private ReturnCode Report(
            int pid, string display, ImageMetadata metadata, CheckpointReportMessage? report, int generation, double total, double? criuMilliseconds, bool detached)
        {
            if (format == OutputFormat.Json)
            {
                ToolJsonContext.Write(
                    new RestoreResult(pid, directory, metadata.Engine, total, detached, report, Reported(metadata, 1), Reported(metadata, 2))
                    {
                        Manifest = _manifest,
                        LazyPages = _lazyPages is not null
                            ? new LazyPagesResult(true, _pagesBytes, _lazyPages.DaemonPid, Path.Combine(directory, CriuCommandLine.LazyPagesLog), null)
                            : _lazyNotPossible is not null ? new LazyPagesResult(false, _pagesBytes, null, null, _lazyNotPossible) : null,
                    },
                    ToolJsonContext.Default.RestoreResult);
            }
            else
            {
                string how = criuMilliseconds is { } criu ? $"CRIU {Formatting.Duration(criu)}, " : string.Empty;
                Console.Out.WriteLine(
                    $"Restored process {display} from {directory} in {Formatting.Duration(total)} ({how}after-restore done), generation {generation.ToString(CultureInfo.InvariantCulture)}.");
                if (_manifest is { } manifest)
                {
                    Console.Out.WriteLine(manifest.Status == ManifestStatus.Verified
                        ? $"Image verified against its manifest: {manifest.Files} files, {Formatting.Size(manifest.Bytes)}, in {Formatting.Duration(manifest.Milliseconds)}" +
                          (manifest.DuringRestore is { } pages
                              ? $"; its memory pages ({Formatting.Size(pages.Bytes)}, {Formatting.Duration(pages.Milliseconds)} of that) were checked while CRIU restored, before the process resumed."
                              : ", before CRIU ran.")
                        : $"Warning: {manifest.Problem}");
                }

                if (_lazyPages is not null)
                {
                    Console.Out.WriteLine(
                        $"Its memory ({Formatting.Size(_pagesBytes)}) comes in lazily: criu lazy-pages (pid {_lazyPages.DaemonPid}) serves each page on first touch and the rest in the background, then exits; " +
                        $"its log: {Path.Combine(directory, CriuCommandLine.LazyPagesLog)}.");
                }
                else if (_lazyNotPossible is not null)
                {
                    Console.Out.WriteLine($"Its memory ({Formatting.Size(_pagesBytes)}) was copied in before it resumed, not lazily: {_lazyNotPossible}.");
                }

                if (_stdio is not null && new StdioFiles("/dev/null", Reported(metadata, 1)!, Reported(metadata, 2)!) is var stdio)
                {
                    Console.Out.WriteLine(stdio.Output == stdio.Error
                        ? $"Its stdout and stderr go to {stdio.Output}{(stdio.Output == "/dev/null" ? " (they were not a file at checkpoint time; --output <file> keeps them)" : string.Empty)}."
                        : $"Its stdout goes to {stdio.Output}, its stderr to {stdio.Error}.");
                }

                Console.Out.Write(FidelityText.Render(FidelityText.FromActions(report?.Actions ?? [])).Replace("(the last restore)", "(what this restore found)", StringComparison.Ordinal));
                if (report?.Failure is { } failure)
                {
                    Console.Error.WriteLine($"Error: process {display} was restored, but a restore notification failed:");
                    Console.Error.Write(ExceptionTreeRenderer.Render(failure));
                }
            }

            return report?.Failure is null ? ReturnCode.Ok : ReturnCode.RestoreFailed;
        }

        /// <summary>Waits for the woken checkpoint's after-restore, as long as its own limits allow.</summary>
        private static async Task<CheckpointReportMessage?> WaitForAfterRestoreAsync(AgentClient client, ResumeReply resumed, CancellationToken cancellationToken)
        {
            if (resumed.CheckpointId is not { } checkpointId || resumed.Limits is not { } limits)
            {
                // A checkpoint the application took itself: no outcome to ask the agent for.
                return null;
            }

            var waited = Stopwatch.StartNew();
            while (limits.IsInfinite || waited.Elapsed < limits.PassDeadline)
            {
                OutcomeReply outcome = await client.OutcomeAsync(checkpointId, cancellationToken).ConfigureAwait(false);
                if (outcome.State == CheckpointState.Done)
                {
                    return outcome.Report;
                }

                await Task.Delay(20, cancellationToken).ConfigureAwait(false);
            }

            throw new ToolException(ReturnCode.Timeout,
                $"Process {client.Target.Display} was restored, but its after-restore notifications did not finish within {Formatting.Duration(limits.PassDeadline.TotalMilliseconds)} " +
                $"(its checkpoint timeout of {CracSettings.FormatTimeout(limits.ResourceTimeout)} and the grace after it). It goes on; `dotnet crac status {client.Target.Pid}` shows where it stands.");
        }

        /// <summary>
        /// The original's pid must be free. A just-killed original stays a zombie for a second or
        /// two: wait for it; anything else holding the pid is a conflict the operator must resolve.
        /// </summary>
        private static async Task WaitForPidAsync(int pid, string owner, CancellationToken cancellationToken)
        {
            var stopwatch = Stopwatch.StartNew();
            while (Procfs.HasEntry(pid) && stopwatch.Elapsed < ZombieWait)
            {
                if (TargetProcess.IsLive(pid))
                {
                    break;
                }

                await Task.Delay(20, cancellationToken).ConfigureAwait(false);
            }

            if (Procfs.HasEntry(pid))
            {
                string holder = TargetProcess.ReadName(pid);
                throw new ToolException(ReturnCode.PidConflict,
                    $"Cannot restore: pid {pid}, which {owner} had and must have again, is in use by {holder} (pid {pid}). " +
                    "CRIU restores a process with its original pid. If that is the original still running (a --keep-running checkpoint), stop it first; " +
                    "if it is another process, stop it, or restore in a new pid namespace (e.g. a fresh container).");
            }
        }

        /// <summary>
        /// A detached restored process never holds this command's stdio (a pipeline would live as
        /// long as it): its stdout and stderr go to --output, else where they went at checkpoint
        /// time if that was a file (appended, so a log that grew meanwhile does not fail the
        /// restore), else to /dev/null. CRIU hands its own stdio over (<see cref="InheritedStdio"/>).
        /// </summary>
        private StdioFiles RouteStdio(ImageMetadata metadata)
        {
            // A file of a process with its own mount namespace is in the image's files, not this host's.
            string Destination(int fd) =>
                outputFile ?? (!metadata.OwnMountNamespace && IsRegularFile(metadata.Stdio.ElementAtOrDefault(fd)) ? metadata.Stdio[fd]! : "/dev/null");
            return new StdioFiles("/dev/null", Destination(1), Destination(2));
        }

        /// <summary>
        /// Where the restored process's stdout or stderr goes: where CRIU's own went, except for a
        /// file of a process with its own mount namespace, which CRIU opens again there (as that process sees it).
        /// </summary>
        private string? Reported(ImageMetadata metadata, int fd) =>
            metadata.OwnMountNamespace && IsRegularFile(metadata.Stdio.ElementAtOrDefault(fd))
                ? metadata.Stdio[fd]
                : fd == 1 ? _stdio?.Output : _stdio?.Error;

        private static bool IsRegularFile(string? target) =>
            target is not null && target.StartsWith('/') && !target.StartsWith("/dev/", StringComparison.Ordinal) && !target.EndsWith(" (deleted)", StringComparison.Ordinal);

        /// <summary>
        /// --inherit-fd keys: the original's stdio pipes and files are replaced by CRIU's own, the
        /// files <see cref="RouteStdio"/> chose. A key names a file, not a descriptor, so /dev/null
        /// is left alone: every descriptor on it (a policy's placeholders too) would be replaced.
        /// </summary>
        private static IEnumerable<string> InheritedStdio(ImageMetadata metadata)
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            for (int fd = 0; fd < Math.Min(3, metadata.Stdio.Count); fd++)
            {
                string? target = metadata.Stdio[fd];
                string? key = target switch
                {
                    null => null,
                    _ when target.StartsWith("pipe:[", StringComparison.Ordinal) => target,
                    _ when IsRegularFile(target) && !metadata.OwnMountNamespace => target[1..],
                    _ => null,
                };
                if (key is not null && seen.Add(key))
                {
                    yield return $"fd[{fd}]:{key}";
                }
            }
        }

        private ToolException RestoreFailed(string criu, int exitCode, string output, int pid)
        {
            // CRIU's action script refused to resume the process: its memory pages do not match the manifest.
            if (_pagesDuringRestore?.Result is { IsCompletedSuccessfully: true, Result: { Status: ManifestStatus.Changed } changed })
            {
                return new ToolException(ReturnCode.ImageUnusable, $"Refusing to restore {directory}: {changed.Problem}");
            }

            if (CriuBinary.ExplainFailure(criu) is { } unusable)
            {
                return new ToolException(ReturnCode.CriuUnavailable, $"Cannot restore {directory}: {unusable}");
            }

            string summary = CriuLog.Summarize("restore", exitCode, Path.Combine(directory, CriuCommandLine.RestoreLog), output)
                + (_lazyPages is null ? string.Empty : $" The restore was lazy: {_lazyPages.Explain()} (--lazy-pages false restores without the daemon.)");
            return summary.Contains("Can't fork for", StringComparison.Ordinal)
                ? new ToolException(ReturnCode.PidConflict, $"Cannot restore {directory}: pid {pid} is taken. {summary}")
                : new ToolException(ReturnCode.RestoreFailed, $"Cannot restore {directory}: {summary}");
        }

        private static int? ReadPid(string pidFile)
        {
            try
            {
                return int.TryParse(File.ReadAllText(pidFile).Trim(), CultureInfo.InvariantCulture, out int pid) ? pid : null;
            }
            catch (IOException)
            {
                return null;
            }
        }
    }
}
