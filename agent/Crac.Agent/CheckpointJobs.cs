using System.Collections.Concurrent;
using Crac.Coordination;
using Crac.Diagnostics;
using Crac.Engines;
using Crac.FileDescriptors;
using Crac.Protocol;

namespace Crac.Agent;

/// <summary>
/// A checkpoint the tool asked for. It runs on its own thread, after the tool's session has
/// closed (CRIU cannot dump a process with a connected diagnostics session); the tool learns how
/// it went by asking for its outcome in a later, short session.
/// </summary>
internal sealed class CheckpointJob(string id, CheckpointCommand command, AgentEventSource events) : ICheckpointObserver
{
    private volatile string _state = CheckpointStates.Running;
    private volatile string? _phase = "waiting-for-session-close";
    private CheckpointReport? _report;

    public string Id { get; } = id;

    public bool IsFinished => _state == CheckpointStates.Done;

    public void OnPhase(string phase)
    {
        _phase = phase;
        _state = phase switch
        {
            CheckpointStates.WaitingForDump => CheckpointStates.WaitingForDump,
            CheckpointStates.Paused => CheckpointStates.Paused,
            _ => CheckpointStates.Running,
        };
        events.CheckpointPhase(Id, phase);
    }

    public OutcomeReply ToOutcome()
    {
        CheckpointReport? report = _report;
        string state = _state;
        return new OutcomeReply
        {
            State = state,
            Phase = _phase,
            Dump = state == CheckpointStates.WaitingForDump ? RestoreGate.Instructions : null,
            Report = report is null ? null : new CheckpointReportMessage
            {
                Outcome = report.Outcome,
                Engine = report.Engine,
                DryRun = report.DryRun,
                ImageDirectory = report.ImageDirectory,
                Generation = report.Generation,
                Phases = report.Phases.Select(p => new PhaseMessage(p.Name, p.Duration.TotalMilliseconds)).ToArray(),
                Failure = report.Failure is { } failure ? ExceptionNode.FromException(failure) : null,
            },
        };
    }

    public void Run()
    {
        WaitForSessionsToClose();
        var options = new CheckpointOptions
        {
            Engine = command.Engine,
            ImageDirectory = command.ImageDirectory,
            EngineOptions = command.EngineOptions,
            DryRun = command.DryRun,
            KeepRunning = command.KeepRunning,
            Timeout = command.TimeoutMilliseconds is { } milliseconds ? TimeSpan.FromMilliseconds(milliseconds) : null,
        };
        events.CheckpointStarted(Id, options.Engine ?? string.Empty, options.DryRun);
        _report = Coordinator.RunAsync(options, CheckpointTrigger.Agent, this, CancellationToken.None).GetAwaiter().GetResult();
        _phase = null;
        _state = CheckpointStates.Done;
    }

    // The requesting tool stops its session right after the acknowledgement. Another client
    // (dotnet-trace) may hold one for long: wait a little, then go on and let the engine decide.
    private static void WaitForSessionsToClose()
    {
        DateTime deadline = DateTime.UtcNow.AddSeconds(2);
        while (DateTime.UtcNow < deadline && FdClassifier.CountDiagnosticsSessions(FdScanner.Scan()) > 0)
        {
            Thread.Sleep(10);
        }
    }
}

internal static class CheckpointJobs
{
    public const int Capacity = 16;
    private static readonly ConcurrentQueue<CheckpointJob> Recent = new();

    public static CheckpointJob? Current { get; private set; }

    public static CheckpointJob Start(string id, CheckpointCommand command, AgentEventSource events)
    {
        var job = new CheckpointJob(id, command, events);
        Current = job;
        Recent.Enqueue(job);
        while (Recent.Count > Capacity && Recent.TryDequeue(out _))
        {
        }

        // A dedicated thread: it is the one frozen in the image, and it resumes at restore.
        new Thread(job.Run) { IsBackground = true, Name = "crac-checkpoint" }.Start();
        return job;
    }

    public static CheckpointJob? Find(string id) => Recent.FirstOrDefault(job => job.Id == id);
}
