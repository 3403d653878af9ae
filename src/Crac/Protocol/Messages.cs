using System.Text.Json;
using Crac.Diagnostics;
using Crac.Engines;

namespace Crac.Protocol;

/// <summary>A reply, as reassembled from its chunk events.</summary>
internal sealed record AgentReply
{
    public required int ProtocolVersion { get; init; }

    public required string RequestId { get; init; }

    public required string Command { get; init; }

    public AgentError? Error { get; init; }

    public JsonElement? Body { get; init; }
}

internal sealed record AgentError(string Code, string Message);

internal sealed record HelpReply(string AgentVersion, int ProtocolVersion, IReadOnlyList<CommandDescription> Commands);

internal sealed record StatusReply
{
    public required int Pid { get; init; }

    public required string AgentVersion { get; init; }

    public required string Runtime { get; init; }

    public required string Engine { get; init; }

    public required string Checkpointability { get; init; }

    public string? Reason { get; init; }

    public required int Generation { get; init; }

    public DateTimeOffset? RestoreTime { get; init; }

    public double? UptimeSinceRestoreMilliseconds { get; init; }

    public double? LastRestoreMilliseconds { get; init; }

    public required string LastCheckpointOutcome { get; init; }

    public string? LastCheckpointEngine { get; init; }

    public DateTimeOffset? LastCheckpointTime { get; init; }

    public string? LastCheckpointError { get; init; }

    /// <summary>How many open fds would fail a checkpoint now (a pre-check, before resources run).</summary>
    public required int BlockingFds { get; init; }
}

internal sealed record CheckpointCommand
{
    public string? Engine { get; init; }

    public string? ImageDirectory { get; init; }

    public string? EngineOptions { get; init; }

    public bool DryRun { get; init; }

    public bool KeepRunning { get; init; }

    public double? TimeoutMilliseconds { get; init; }
}

internal sealed record CheckpointAccepted(string CheckpointId);

internal sealed record OutcomeCommand(string CheckpointId);

/// <summary>Where a checkpoint started by the agent stands.</summary>
internal static class CheckpointStates
{
    /// <summary>Resources are being notified, or the engine is working.</summary>
    public const string Running = "running";

    /// <summary>The process is ready to be imaged and waits for the tool to run CRIU.</summary>
    public const string WaitingForDump = "waiting-for-dump";

    /// <summary>The pause engine stopped the process; a restore wakes it.</summary>
    public const string Paused = "paused";

    /// <summary>Finished; the report says how.</summary>
    public const string Done = "done";
}

internal sealed record OutcomeReply
{
    public required string State { get; init; }

    public string? Phase { get; init; }

    /// <summary>Set when <see cref="State"/> is done.</summary>
    public CheckpointReportMessage? Report { get; init; }

    /// <summary>Set when waiting for the tool to dump: the metadata, image directory and CRIU settings.</summary>
    public DumpInstructions? Dump { get; init; }
}

internal sealed record PhaseMessage(string Name, double Milliseconds);

internal sealed record CheckpointReportMessage
{
    public required string Outcome { get; init; }

    public required string Engine { get; init; }

    public required bool DryRun { get; init; }

    public string? ImageDirectory { get; init; }

    public required int Generation { get; init; }

    public IReadOnlyList<PhaseMessage> Phases { get; init; } = [];

    /// <summary>The checkpoint's (or restore's) exception tree, when it failed.</summary>
    public ExceptionNode? Failure { get; init; }
}

internal sealed record ResumeCommand
{
    public required string Kind { get; init; }

    public Dictionary<string, string>? Environment { get; init; }

    public List<string>? Arguments { get; init; }

    public DateTimeOffset? RestoreStartedAt { get; init; }

    /// <summary>For a failed dump: CRIU's error lines.</summary>
    public string? Failure { get; init; }
}

internal sealed record ResumeReply(bool Resumed, string? CheckpointId);

internal static class ResumeKinds
{
    public const string Restored = "restored";
    public const string KeptRunning = "kept-running";
    public const string DumpFailed = "dump-failed";
}

internal sealed record FdMessage
{
    public required int Fd { get; init; }

    public required string Kind { get; init; }

    public required string Target { get; init; }

    public required string Mode { get; init; }

    public required long Position { get; init; }

    public required bool CloseOnExec { get; init; }

    public required bool Blocking { get; init; }

    public required string Reason { get; init; }

    public string? Socket { get; init; }

    public bool Locked { get; init; }

    public int? PolicyRule { get; init; }

    public string? PolicyAction { get; init; }

    public FdOriginMessage? Origin { get; init; }
}

internal sealed record FdOriginMessage(string Thread, DateTimeOffset Time, IReadOnlyList<string> ManagedStack, IReadOnlyList<string> NativeStack);

internal sealed record FdsReply
{
    public required int Pid { get; init; }

    public required bool OriginsCollected { get; init; }

    public string? PolicyFile { get; init; }

    /// <summary>Set when the policy file is malformed: the fds are then assessed without it.</summary>
    public string? PolicyError { get; init; }

    public required IReadOnlyList<FdMessage> Fds { get; init; }
}
