using System.CommandLine;
using System.Globalization;
using Crac.Configuration;
using Crac.Coordination;
using Crac.Diagnostics;
using Crac.Engines;
using Crac.Protocol;
using Crac.Tool.Agent;
using Crac.Tool.Criu;
using Crac.Tool.Output;

namespace Crac.Tool.CommandLine.Commands;

/// <summary>
/// <c>dotnet crac checkpoint &lt;pid&gt;</c>, the JDK.checkpoint of .NET. The agent accepts the
/// request at once and states the limits it will apply; the tool stops its session (CRIU cannot
/// dump a process with a connected diagnostics session) and follows the checkpoint through short
/// sessions that ask for its outcome, running CRIU itself when the process waits for its dump.
/// </summary>
internal static class CheckpointCommand
{
    // Without a rendezvous each poll is a session, and the runtime serves one diagnostics command at a time.
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(50);

    // How often the wait at the rendezvous stops to check the deadline and show progress.
    private static readonly TimeSpan RendezvousCheckInterval = TimeSpan.FromMilliseconds(500);

    public static Command Create()
    {
        var command = new Command("checkpoint", "Checkpoints a process: notifies its resources, checks its file descriptors and takes the image with the chosen engine.");
        var selection = new CommonOptions.ProcessSelection(command);
        var engine = new Option<string?>("--engine") { Description = "The engine: simulate, criu or pause (default: the process's CRAC_ENGINE, else simulate)." };
        var imageDirectory = new Option<string?>("--image-dir") { Description = "Where the image is written (criu, pause); created private (0700)." };
        var engineOptions = new Option<string?>("--engine-options") { Description = "The engine's options, key=value,key=value; 'help' lists them." };
        var dryRun = new Option<bool>("--dry-run") { Description = "Run the coordination and every check, report every problem, take no image." };
        var keepRunning = new Option<bool>("--keep-running") { Description = "Let the process carry on after the image is taken (criu)." };
        var timeout = new Option<string?>("--timeout") { Description = "How long resources have to prepare, e.g. 30s, 500ms, infinite (default: the process's CRAC_CHECKPOINT_TIMEOUT, else 30s)." };
        var criuPath = CriuOptions.CriuPathOption();
        Option<string?> policies = CommonOptions.PoliciesOption();
        var labels = new Option<string[]>("--label")
        {
            Description = "A key=value label recorded in the image (criu; repeatable); `restore --require-label` refuses an image without it.",
            AllowMultipleArgumentsPerToken = false,
        };
        command.Options.Add(engine);
        command.Options.Add(labels);
        command.Options.Add(imageDirectory);
        command.Options.Add(engineOptions);
        command.Options.Add(dryRun);
        command.Options.Add(keepRunning);
        command.Options.Add(timeout);
        command.Options.Add(criuPath);
        command.Options.Add(policies);
        CommandRunner.SetAction(command, async (result, cancellationToken) =>
        {
            if (string.Equals(result.GetValue(engineOptions), "help", StringComparison.OrdinalIgnoreCase))
            {
                Console.Out.WriteLine(CheckpointOptions.GetEngineHelp(result.GetValue(engine)));
                return ReturnCode.Ok;
            }

            var request = new CheckpointRequest
            {
                Engine = result.GetValue(engine),
                ImageDirectory = result.GetValue(imageDirectory) is { } directory ? Path.GetFullPath(directory) : null,
                EngineOptions = result.GetValue(engineOptions),
                DryRun = result.GetValue(dryRun),
                KeepRunning = result.GetValue(keepRunning),
                Timeout = ParseTimeout(result.GetValue(timeout)),
                Policies = CommonOptions.ReadPolicies(result.GetValue(policies)),
            };
            AgentClient client = selection.Connect(result);
            return await new CheckpointRun(client, request, result.GetValue(criuPath), ImageLabels.Parse(result.GetValue(labels), "--label"), selection.Format(result))
                .ExecuteAsync(cancellationToken).ConfigureAwait(false);
        });
        return command;
    }

    /// <summary>The timeout exactly as given: not given stays unset, so the process's own configuration decides.</summary>
    private static TimeSpan? ParseTimeout(string? text)
    {
        try
        {
            return text is null ? null : CracSettings.ParseTimeout(text, "--timeout");
        }
        catch (ArgumentException exception)
        {
            throw new ToolException(ReturnCode.ArgumentError, exception.Message);
        }
    }

    private sealed class CheckpointRun(
        AgentClient client, CheckpointRequest request, string? criuPath, IReadOnlyDictionary<string, string> labels, OutputFormat format)
    {
        private TargetProcess Target => client.Target;

        public async Task<ReturnCode> ExecuteAsync(CancellationToken cancellationToken)
        {
            // The process reports being parked, and finishing, at the rendezvous: no session may be
            // open when CRIU dumps it, so the tool does not poll over the channel (unless it must).
            // In a container the process sees the directory by its own pid and root, the tool through /proc/PID/root.
            (string seen, string reached) = Target.RendezvousDirectory();
            Rendezvous? rendezvous = Rendezvous.Prepare(reached, Target.Uid, out _);
            try
            {
                return await ExecuteAsync(rendezvous, rendezvous is null ? null : seen, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                client.HangUp();
                rendezvous?.Remove();
            }
        }

        private async Task<ReturnCode> ExecuteAsync(Rendezvous? rendezvous, string? rendezvousSeen, CancellationToken cancellationToken)
        {
            // With a rendezvous, the request's session stays open until the process parks (see CheckpointAsync).
            CheckpointReply accepted = await client.CheckpointAsync(request with { Rendezvous = rendezvousSeen }, holdSession: rendezvous is not null, cancellationToken)
                .ConfigureAwait(false);
            CheckpointLimits limits = accepted.Limits;
            // Running `criu --version` takes 3-10 ms: done while the process runs its notifications, not after it parks.
            CriuCheckpoint.Locator? criu = accepted.Engine == "criu" && !request.DryRun ? CriuCheckpoint.Locator.Start(criuPath) : null;
            using var progress = new Progress(quiet: format == OutputFormat.Json);
            progress.Report($"Checkpoint {accepted.CheckpointId} of process {Target.Display} accepted ({accepted.Engine} engine, timeout {CracSettings.FormatTimeout(limits.ResourceTimeout)})");

            // The process applies these limits; the tool waits as long as they allow, and no longer.
            using var deadline = new CancellationTokenSource();
            if (!limits.IsInfinite)
            {
                deadline.CancelAfter(limits.CheckpointDeadline);
            }

            ToolDumpResult? dump = null;
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (deadline.IsCancellationRequested)
                {
                    throw new ToolException(ReturnCode.Timeout,
                        $"The checkpoint of process {Target.Display} did not finish within {Formatting.Duration(limits.CheckpointDeadline.TotalMilliseconds)}, " +
                        $"the most its limits allow (timeout {CracSettings.FormatTimeout(limits.ResourceTimeout)} for each notification pass, {CracSettings.FormatTimeout(limits.DumpWait)} for the dump). " +
                        $"It goes on in the process; `dotnet crac status {Target.Pid}` shows where it stands.");
                }

                OutcomeReply outcome = await NextOutcomeAsync(rendezvous, accepted.CheckpointId, cancellationToken).ConfigureAwait(false);
                if (outcome.State != CheckpointState.Running)
                {
                    client.HangUp();
                }

                switch (outcome.State)
                {
                    case CheckpointState.Done:
                        progress.Dispose();
                        return Report(accepted, outcome.Report!, dump);
                    case CheckpointState.Paused:
                        progress.Dispose();
                        return ReportPaused(accepted);
                    case CheckpointState.WaitingForDump:
                        progress.Report($"Dumping process {Target.Display} with CRIU");
                        dump = await CriuCheckpoint.DumpAsync(Target, outcome.Dump!, criu ?? CriuCheckpoint.Locator.Start(criuPath), labels, cancellationToken).ConfigureAwait(false);
                        if (dump.ProcessGone)
                        {
                            progress.Dispose();
                            return ReportImage(accepted, outcome, dump);
                        }

                        // Kept running, or the dump failed: wake the process; it carries on or rolls back.
                        await WakeAsync(rendezvous, new ResumeRequest { Kind = dump.Succeeded ? ResumeKind.KeptRunning : ResumeKind.DumpFailed, Failure = dump.Failure }, cancellationToken)
                            .ConfigureAwait(false);
                        break;
                    case CheckpointState.Running:
                        progress.Report($"Checkpoint {accepted.CheckpointId} of process {Target.Display}: {WireNames.Of(outcome.Phase ?? CheckpointPhase.Starting)}");
                        break;
                }
            }
        }

        /// <summary>The checkpoint's next state: what the process leaves at the rendezvous, or, without one, what `outcome` answers.</summary>
        private async Task<OutcomeReply> NextOutcomeAsync(Rendezvous? rendezvous, string checkpointId, CancellationToken cancellationToken)
        {
            if (rendezvous is null)
            {
                await Task.Delay(PollInterval, cancellationToken).ConfigureAwait(false);
                return await AskOutcomeAsync(checkpointId, cancellationToken).ConfigureAwait(false);
            }

            string? found = await rendezvous.WaitForAsync([Rendezvous.Parked, Rendezvous.Report], RendezvousCheckInterval, () => !Target.IsAlive, cancellationToken)
                .ConfigureAwait(false);
            if (found is not null && rendezvous.TryRead(found, CracJsonContext.Default.OutcomeReply, consume: true) is { } outcome)
            {
                return outcome;
            }

            if (!Target.IsAlive)
            {
                throw new ToolException(ReturnCode.TargetExited, $"Process {Target.Display} exited during its checkpoint, without an image.");
            }

            return new OutcomeReply { State = CheckpointState.Running };
        }

        /// <summary>Wakes the parked process: at the rendezvous, or over the channel.</summary>
        private async Task WakeAsync(Rendezvous? rendezvous, ResumeRequest resume, CancellationToken cancellationToken)
        {
            if (rendezvous is not null)
            {
                rendezvous.Write(Rendezvous.Resume, resume, CracJsonContext.Default.ResumeRequest);
                return;
            }

            await client.ResumeAsync(resume, cancellationToken).ConfigureAwait(false);
        }

        private async Task<OutcomeReply> AskOutcomeAsync(string checkpointId, CancellationToken cancellationToken)
        {
            try
            {
                return await client.OutcomeAsync(checkpointId, cancellationToken).ConfigureAwait(false);
            }
            catch (ToolException exception) when (exception.Code == ReturnCode.TargetExited || !Target.IsAlive)
            {
                throw new ToolException(ReturnCode.TargetExited, $"Process {Target.Display} exited during its checkpoint, without an image.");
            }
        }

        private ReturnCode Report(CheckpointReply accepted, CheckpointReportMessage report, ToolDumpResult? dump)
        {
            if (dump is not { Succeeded: true })
            {
                WarnLabelsNotRecorded(accepted.Engine);
            }

            IReadOnlyList<PhaseMessage> phases = dump is null ? report.Phases : [.. report.Phases, .. dump.Phases];
            ReturnCode code = report.Outcome switch
            {
                CheckpointOutcome.Failed => ReturnCode.CheckpointFailed,
                CheckpointOutcome.RestoreFailed => ReturnCode.RestoreFailed,
                CheckpointOutcome.None or CheckpointOutcome.Restored or CheckpointOutcome.KeptRunning
                    or CheckpointOutcome.DryRunPassed or CheckpointOutcome.Imaged => ReturnCode.Ok,
            };
            if (format == OutputFormat.Json)
            {
                ToolJsonContext.Write(
                    new CheckpointResult(Target.Pid, accepted.CheckpointId, CheckpointState.Done, report with { Phases = phases }, report.ImageDirectory, accepted.Limits),
                    ToolJsonContext.Default.CheckpointResult);
                return code;
            }

            if (report.Failure is { } failure)
            {
                string what = report.Outcome == CheckpointOutcome.RestoreFailed
                    ? $"The checkpoint of process {Target.Display} was taken, but a restore notification failed"
                    : report.DryRun
                        ? $"The dry run of process {Target.Display} found problems; nothing was imaged and every resource was restored"
                        : $"The checkpoint of process {Target.Display} failed; the process carries on and every notified resource was restored";
                Console.Error.WriteLine($"Error: {what} ({report.Engine} engine):");
                Console.Error.Write(ExceptionTreeRenderer.Render(failure));
                return code;
            }

            Console.Out.WriteLine(report.Outcome switch
            {
                CheckpointOutcome.DryRunPassed => $"Dry run of process {Target.Display} passed ({report.Engine} engine): every resource is ready, no image was taken.",
                CheckpointOutcome.KeptRunning => $"Checkpoint of process {Target.Display} written to {report.ImageDirectory} ({report.Engine} engine); the process carries on.",
                _ when report.ImageDirectory is not null && report.Engine != "simulate" =>
                    $"Checkpoint of process {Target.Display} restored from {report.ImageDirectory} ({report.Engine} engine), generation {report.Generation}.",
                _ => $"Checkpoint of process {Target.Display} succeeded ({report.Engine} engine): every resource was notified, and the process is restored as generation {report.Generation}.",
            });
            WritePhases(phases);
            WriteActions(report.Actions);
            if (report.EngineCommand is { } engineCommand)
            {
                Console.Out.WriteLine($"The checkpoint would run: {string.Join(' ', engineCommand)}");
            }
            if (report.Outcome == CheckpointOutcome.KeptRunning)
            {
                Console.Out.WriteLine($"Restore a copy with: dotnet crac restore {report.ImageDirectory}  (after stopping this process: the pid must be free)");
            }

            return code;
        }

        /// <summary>The image is written and the process gone: its phases and actions are those it reported when it parked, and the dump's.</summary>
        private ReturnCode ReportImage(CheckpointReply accepted, OutcomeReply parked, ToolDumpResult dump)
        {
            string imageDirectory = parked.Dump!.ImageDirectory;
            IReadOnlyList<CheckpointAction> actions = parked.Actions ?? [];
            IReadOnlyList<PhaseMessage> phases = [.. parked.Phases ?? [], .. dump.Phases];
            if (format == OutputFormat.Json)
            {
                var report = new CheckpointReportMessage
                {
                    Outcome = CheckpointOutcome.Imaged,
                    Engine = accepted.Engine,
                    DryRun = false,
                    ImageDirectory = imageDirectory,
                    Generation = parked.Dump.Metadata.Generation,
                    Phases = phases,
                    Actions = actions,
                };
                ToolJsonContext.Write(
                    new CheckpointResult(Target.Pid, accepted.CheckpointId, CheckpointState.Done, report, imageDirectory, accepted.Limits),
                    ToolJsonContext.Default.CheckpointResult);
                return ReturnCode.Ok;
            }

            Console.Out.WriteLine($"Checkpoint of process {Target.Display} written to {imageDirectory} ({accepted.Engine} engine); the process has exited.");
            WritePhases(phases);
            WriteActions(actions);
            Console.Out.WriteLine($"Restore it with: dotnet crac restore {imageDirectory}");
            return ReturnCode.Ok;
        }

        private ReturnCode ReportPaused(CheckpointReply accepted)
        {
            WarnLabelsNotRecorded(accepted.Engine);
            string directory = request.ImageDirectory ?? "<image dir>";
            if (format == OutputFormat.Json)
            {
                ToolJsonContext.Write(
                    new CheckpointResult(Target.Pid, accepted.CheckpointId, CheckpointState.Paused, null, directory, accepted.Limits),
                    ToolJsonContext.Default.CheckpointResult);
                return ReturnCode.Ok;
            }

            Console.Out.WriteLine($"Process {Target.Display} is paused at its checkpoint (pause engine); its pid is in {Path.Combine(directory, PauseEngine.PidFileName)}.");
            Console.Out.WriteLine($"Resume it with: dotnet crac restore {directory}");
            return ReturnCode.Ok;
        }

        /// <summary>Labels go into a criu image's metadata, written by this tool's dump: with no dump they went nowhere, and the operator is told.</summary>
        private void WarnLabelsNotRecorded(string engine)
        {
            if (labels.Count > 0)
            {
                Console.Error.WriteLine($"Note: the labels ({string.Join(", ", labels.Keys)}) were not recorded: no criu image was written ({engine} engine).");
            }
        }

        private static void WriteActions(IReadOnlyList<CheckpointAction> actions)
        {
            if (actions.Count > 0)
            {
                Console.Out.WriteLine("Done automatically:");
            }

            foreach (CheckpointAction action in actions)
            {
                Console.Out.WriteLine($"  {action.Source}: {action.Description}");
            }
        }

        private static void WritePhases(IReadOnlyList<PhaseMessage> phases)
        {
            foreach (PhaseMessage phase in phases)
            {
                Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {WireNames.Of(phase.Name),-22}{Formatting.Duration(phase.Milliseconds)}"));
            }
        }
    }
}
