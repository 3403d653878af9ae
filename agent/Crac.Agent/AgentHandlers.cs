using Crac.Coordination;
using Crac.Engines;
using Crac.Protocol;

namespace Crac.Agent;

/// <summary>
/// What the agent does for each command: one handler each, in one table. A new command is its
/// request and reply in src/Crac/Protocol, its definition in <see cref="AgentCommands"/>, and a line here.
/// </summary>
internal static class AgentHandlers
{
    public static readonly string AgentVersion =
        typeof(AgentHandlers).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";

    public static AgentCommandTable Create(AgentEventSource events) => new()
    {
        { AgentCommands.Help, _ => HelpReply.Describe(AgentVersion) },
        { AgentCommands.Status, _ => StatusReply.Capture(AgentVersion) },
        { AgentCommands.Fds, FdsReply.Capture },
        { AgentCommands.Checkpoint, request => StartCheckpoint(request, events) },
        { AgentCommands.Outcome, Outcome },
        { AgentCommands.Resume, Resume },
    };

    /// <summary>Queues the checkpoint on its own thread and answers at once: this runs on the runtime's EventPipe thread.</summary>
    private static CheckpointReply StartCheckpoint(CheckpointRequest request, AgentEventSource events)
    {
        if (Coordinator.IsRunning || CheckpointJobs.Current is { IsFinished: false })
        {
            throw new AgentRequestException(AgentErrorCode.Busy,
                $"A checkpoint is already in progress ({Diagnostics.WireNames.Of(Coordinator.State.CurrentPhase ?? CheckpointPhase.Starting)}); wait for it to finish and try again.");
        }

        CheckpointJob job = CheckpointJobs.Start(AgentProtocol.NewRequestId(), request, events);
        return new CheckpointReply(job.Id, job.EngineName, job.Limits);
    }

    private static OutcomeReply Outcome(OutcomeRequest request) =>
        (CheckpointJobs.Find(request.CheckpointId)
         ?? throw new AgentRequestException(AgentErrorCode.NotFound,
             $"No checkpoint with id {request.CheckpointId} is known to this process (it keeps the last {CheckpointJobs.Capacity}).")).ToOutcome();

    private static ResumeReply Resume(ResumeRequest request)
    {
        bool resumed = RestoreGate.TrySignal(request.ToSignal());
        CheckpointJob? job = CheckpointJobs.Current;
        if (resumed)
        {
            job?.OnResumed();
        }

        return new ResumeReply(resumed, job?.Id, job?.Limits);
    }
}
