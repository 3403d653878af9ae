namespace Crac.Protocol;

/// <summary>
/// The commands the agent understands, like <c>jcmd &lt;pid&gt; help</c> lists them, each defined
/// once for both sides: the tool's client has one method per command, and the agent's dispatcher
/// looks handlers up by these definitions.
/// </summary>
internal static class AgentCommands
{
    public static readonly AgentCommand<HelpRequest, HelpReply> Help = new(
        "help", "Lists the commands the agent understands.", idempotent: true);

    public static readonly AgentCommand<StatusRequest, StatusReply> Status = new(
        "status", "Engine, checkpointability, generation, restore time, uptime since restore, last checkpoint outcome, blocking fds.", idempotent: true);

    public static readonly AgentCommand<FdsRequest, FdsReply> Fds = new(
        "fds", "Every file descriptor with its kind, target, verdict, reason, fix and automatic action, and where it was opened when collected.", idempotent: true);

    public static readonly AgentCommand<CheckpointRequest, CheckpointReply> Checkpoint = new(
        "checkpoint", "Starts a checkpoint and replies at once with its id and the limits it will apply; the outcome is fetched with 'outcome'.", idempotent: false);

    public static readonly AgentCommand<OutcomeRequest, OutcomeReply> Outcome = new(
        "outcome", "The state of a checkpoint started by 'checkpoint': running, waiting for the tool to dump, paused, or done with its report.", idempotent: true);

    public static readonly AgentCommand<ResumeRequest, ResumeReply> Resume = new(
        "resume", "Wakes a checkpoint that waits at its image: restored (with the restorer's environment and arguments), kept running, or dump failed.", idempotent: false);

    public static readonly IReadOnlyList<AgentCommand> All = [Help, Status, Fds, Checkpoint, Outcome, Resume];
}
