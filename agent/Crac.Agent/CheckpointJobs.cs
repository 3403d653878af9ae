using System.Collections.Concurrent;
using Crac.Coordination;
using Crac.Diagnostics;
using Crac.Engines;
using Crac.Protocol;

namespace Crac.Agent;

/// <summary>
/// A checkpoint the tool asked for. It runs on its own thread while the tool follows it through
/// short sessions that ask for its outcome. With CRIU, the process waits once it is ready and
/// the tool, once its own sessions have closed (CRIU cannot dump a process with a connected
/// diagnostics session), dumps it.
/// </summary>
internal sealed class CheckpointJob(string id, CheckpointCommand command, AgentEventSource events) : ICheckpointObserver
{
    private volatile string _state = CheckpointStates.Running;
    private volatile string? _phase = "starting";
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
        // The state first: Run writes the report before it publishes Done (a volatile write).
        string state = _state;
        CheckpointReport? report = _report;
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
