using System.CommandLine;
using System.Globalization;
using Crac.Configuration;
using Crac.Diagnostics;
using Crac.Engines;
using Crac.Protocol;
using Crac.Tool.Agent;
using Crac.Tool.Criu;
using Crac.Tool.Output;

namespace Crac.Tool.CommandLine.Commands;

/// <summary>
/// <c>dotnet crac checkpoint &lt;pid&gt;</c>, the JDK.checkpoint of .NET. The agent acknowledges
/// the request at once; the tool then stops its session (CRIU cannot dump a process with a
/// connected diagnostics session) and follows the checkpoint through short sessions that ask
/// for its outcome, running CRIU itself when the engine is criu.
/// </summary>
internal static class CheckpointCommand
{
    // Each poll is a session, and the runtime serves one diagnostics command at a time.
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(50);

    public static Command Create()
    {
        var command = new Command("checkpoint", "Checkpoints a process: notifies its resources, checks its file descriptors and takes the image with the chosen engine.");
        var selection = new CommonOptions.ProcessSelection(command);
        var engine = new Option<string?>("--engine") { Description = "The engine: simulate, criu or pause (default: the process's CRAC_ENGINE, else simulate)." };
        var imageDirectory = new Option<string?>("--image-dir") { Description = "Where the image is written (criu, pause); created private (0700)." };
        var engineOptions = new Option<string?>("--engine-options") { Description = "The engine's options, key=value,key=value; 'help' lists them." };
        var dryRun = new Option<bool>("--dry-run") { Description = "Run the coordination and every check, report every problem, take no image." };
        var keepRunning = new Option<bool>("--keep-running") { Description = "Let the process carry on after the image is taken (criu)." };
        var timeout = new Option<string?>("--timeout") { Description = "How long resources have to prepare, e.g. 30s, 500ms (default: the process's CRAC_CHECKPOINT_TIMEOUT, else 30s)." };
        var criuPath = CriuOptions.CriuPathOption();
        command.Options.Add(engine);
        command.Options.Add(imageDirectory);
        command.Options.Add(engineOptions);
        command.Options.Add(dryRun);
        command.Options.Add(keepRunning);
        command.Options.Add(timeout);
        command.Options.Add(criuPath);
        CommandRunner.SetAction(command, async (result, cancellationToken) =>
        {
            if (string.Equals(result.GetValue(engineOptions), "help", StringComparison.OrdinalIgnoreCase))
            {
                Console.Out.WriteLine(CheckpointOptions.GetEngineHelp(result.GetValue(engine)));
                return ReturnCode.Ok;
            }

            TimeSpan? checkpointTimeout = null;
            if (result.GetValue(timeout) is { } timeoutText)
            {
                try
                {
                    checkpointTimeout = CracSettings.ParseTimeout(timeoutText, "--timeout");
                }
                catch (ArgumentException exception)
                {
                    throw new ToolException(ReturnCode.ArgumentError, exception.Message);
                }
            }

            TargetProcess target = selection.Resolve(result);
            target.RequireAgent();
            var request = new Protocol.CheckpointCommand
            {
                Engine = result.GetValue(engine),
                ImageDirectory = result.GetValue(imageDirectory) is { } directory ? Path.GetFullPath(directory) : null,
                EngineOptions = result.GetValue(engineOptions),
                DryRun = result.GetValue(dryRun),
                KeepRunning = result.GetValue(keepRunning),
                TimeoutMilliseconds = checkpointTimeout is { } t && t != Timeout.InfiniteTimeSpan ? t.TotalMilliseconds : null,
            };
            var run = new CheckpointRun(new AgentClient(target), request, checkpointTimeout, result.GetValue(criuPath), selection.Format(result));
            return await run.ExecuteAsync(cancellationToken).ConfigureAwait(false);
        });
        return command;
    }

    private sealed class CheckpointRun(AgentClient client, Protocol.CheckpointCommand request, TimeSpan? checkpointTimeout, string? criuPath, OutputFormat format)
    {
        private TargetProcess Target => client.Target;

        public async Task<ReturnCode> ExecuteAsync(CancellationToken cancellationToken)
        {
            CheckpointAccepted accepted = await client.SendAsync(
                AgentCommands.Checkpoint, request, CracJsonContext.Default.CheckpointCommand, CracJsonContext.Default.CheckpointAccepted, cancellationToken)
                .ConfigureAwait(false);

            // Resources get the timeout twice (checkpoint and restore), and CRIU needs its time.
            TimeSpan limit = (checkpointTimeout is { } t && t != Timeout.InfiniteTimeSpan ? t : CracSettings.DefaultTimeout) * 2 + TimeSpan.FromSeconds(60);
            DateTime deadline = DateTime.UtcNow + limit;
            using var progress = new Progress(quiet: format == OutputFormat.Json);
            progress.Report($"Checkpoint {accepted.CheckpointId} of process {Target.Display} accepted");
            ToolDumpResult? dump = null;
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (DateTime.UtcNow > deadline)
                {
                    throw new ToolException(ReturnCode.Timeout,
                        $"The checkpoint of process {Target.Display} did not finish within {Formatting.Duration(limit.TotalMilliseconds)}. " +
                        $"It goes on in the process; `dotnet crac status {Target.Pid}` shows where it stands.");
                }

                OutcomeReply outcome;
                try
                {
                    outcome = await client.SendAsync(
                        AgentCommands.Outcome, new OutcomeCommand(accepted.CheckpointId), CracJsonContext.Default.OutcomeCommand,
                        CracJsonContext.Default.OutcomeReply, cancellationToken).ConfigureAwait(false);
                }
                catch (ToolException exception) when (exception.Code == ReturnCode.TargetExited || !Target.IsAlive)
                {
                    throw new ToolException(ReturnCode.TargetExited, $"Process {Target.Display} exited during its checkpoint, without an image.");
                }

                switch (outcome.State)
                {
                    case CheckpointStates.Done:
                        progress.Dispose();
                        return Report(accepted.CheckpointId, outcome.Report!, dump);
                    case CheckpointStates.Paused:
                        progress.Dispose();
                        return ReportPaused(accepted.CheckpointId, outcome);
                    case CheckpointStates.WaitingForDump:
                        progress.Report($"Dumping process {Target.Display} with CRIU");
                        dump = await CriuCheckpoint.DumpAsync(Target, outcome.Dump!, criuPath, cancellationToken).ConfigureAwait(false);
                        if (dump.ProcessGone)
                        {
                            progress.Dispose();
                            return ReportImage(accepted.CheckpointId, outcome.Dump!, dump);
                        }

                        // Kept running, or the dump failed: wake the process; it rolls back or carries on.
                        await client.SendAsync(
                            AgentCommands.Resume,
                            new ResumeCommand
                            {
                                Kind = dump.Succeeded ? ResumeKinds.KeptRunning : ResumeKinds.DumpFailed,
                                Failure = dump.Failure,
                            },
                            CracJsonContext.Default.ResumeCommand, CracJsonContext.Default.ResumeReply, cancellationToken).ConfigureAwait(false);
                        break;
                    default:
                        progress.Report($"Checkpoint {accepted.CheckpointId} of process {Target.Display}: {outcome.Phase ?? outcome.State}");
                        await Task.Delay(PollInterval, cancellationToken).ConfigureAwait(false);
                        break;
                }
            }
        }

        private ReturnCode Report(string checkpointId, CheckpointReportMessage report, ToolDumpResult? dump)
        {
            IReadOnlyList<PhaseMessage> phases = dump is null ? report.Phases : [.. report.Phases, .. dump.Phases];
            ReturnCode code = report.Outcome switch
            {
                "failed" => ReturnCode.CheckpointFailed,
                "restore-failed" => ReturnCode.RestoreFailed,
                _ => ReturnCode.Ok,
            };
            if (format == OutputFormat.Json)
            {
                ToolJsonContext.Write(
                    new CheckpointResult(Target.Pid, checkpointId, CheckpointStates.Done, report with { Phases = phases }, report.ImageDirectory),
                    ToolJsonContext.Default.CheckpointResult);
                return code;
            }

            if (report.Failure is { } failure)
            {
                string what = report.Outcome == "restore-failed"
                    ? $"The checkpoint of process {Target.Display} was taken, but a restore notification failed"
                    : report.DryRun
                        ? $"The dry run of process {Target.Display} found problems; nothing was imaged and every resource was restored"
                        : $"The checkpoint of process {Target.Display} failed; the process carries on and every notified resource was restored";
                Console.Error.WriteLine($"Error: {what} ({report.Engine} engine):");
                Console.Error.Write(ExceptionTreeRenderer.Render(failure));
                return code;
            }

            string summary = report.Outcome switch
            {
                "dry-run-passed" => $"Dry run of process {Target.Display} passed ({report.Engine} engine): every resource is ready, no image was taken.",
                "kept-running" => $"Checkpoint of process {Target.Display} written to {report.ImageDirectory} ({report.Engine} engine); the process carries on.",
                _ when report.ImageDirectory is not null && report.Engine != "simulate" =>
                    $"Checkpoint of process {Target.Display} restored from {report.ImageDirectory} ({report.Engine} engine), generation {report.Generation}.",
                _ => $"Checkpoint of process {Target.Display} succeeded ({report.Engine} engine): every resource was notified, and the process is restored as generation {report.Generation}.",
            };
            Console.Out.WriteLine(summary);
            WritePhases(phases);
            if (report.Outcome == "kept-running")
            {
                Console.Out.WriteLine($"Restore a copy with: dotnet crac restore {report.ImageDirectory}  (after stopping this process: the pid must be free)");
            }

            return code;
        }

        private ReturnCode ReportImage(string checkpointId, DumpInstructions instructions, ToolDumpResult dump)
        {
            if (format == OutputFormat.Json)
            {
                var report = new CheckpointReportMessage
                {
                    Outcome = "imaged",
                    Engine = "criu",
                    DryRun = false,
                    ImageDirectory = instructions.ImageDirectory,
                    Generation = instructions.Metadata.Generation,
                    Phases = dump.Phases,
                };
                ToolJsonContext.Write(new CheckpointResult(Target.Pid, checkpointId, "imaged", report, instructions.ImageDirectory), ToolJsonContext.Default.CheckpointResult);
                return ReturnCode.Ok;
            }

            Console.Out.WriteLine($"Checkpoint of process {Target.Display} written to {instructions.ImageDirectory} (criu engine); the process has exited.");
            WritePhases(dump.Phases);
            Console.Out.WriteLine($"Restore it with: dotnet crac restore {instructions.ImageDirectory}");
            return ReturnCode.Ok;
        }

        private ReturnCode ReportPaused(string checkpointId, OutcomeReply outcome)
        {
            string directory = request.ImageDirectory ?? "<image dir>";
            if (format == OutputFormat.Json)
            {
                ToolJsonContext.Write(new CheckpointResult(Target.Pid, checkpointId, CheckpointStates.Paused, null, directory), ToolJsonContext.Default.CheckpointResult);
                return ReturnCode.Ok;
            }

            Console.Out.WriteLine($"Process {Target.Display} is paused at its checkpoint (pause engine); its pid is in {Path.Combine(directory, PauseEngine.PidFileName)}.");
            Console.Out.WriteLine($"Resume it with: dotnet crac restore {directory}");
            return ReturnCode.Ok;
        }

        private static void WritePhases(IReadOnlyList<PhaseMessage> phases)
        {
            foreach (PhaseMessage phase in phases)
            {
                Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {phase.Name,-22}{Formatting.Duration(phase.Milliseconds)}"));
            }
        }
    }
}
