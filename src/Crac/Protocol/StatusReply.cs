using System.Runtime.InteropServices;
using System.Text.Json.Serialization;
using Crac.Engines;
using Crac.Management;

namespace Crac.Protocol;

internal sealed record StatusReply
{
    public required int Pid { get; init; }

    public required string AgentVersion { get; init; }

    public required string Runtime { get; init; }

    public required string Engine { get; init; }

    [JsonConverter(typeof(JsonStringEnumConverter<Checkpointability>))]
    public required Checkpointability Checkpointability { get; init; }

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

    /// <summary>Why the resource policies are not applied (a malformed file), or null.</summary>
    public string? PolicyError { get; init; }

    /// <summary>What the last restore found and fixed (uniqueness, clocks, machine, environment); empty for a process never restored.</summary>
    public IReadOnlyList<Crac.Runtime.FidelityFinding> Fidelity { get; init; } = [];

    /// <summary>The process's status now, in one call: the coordination state, and whether a checkpoint would pass.</summary>
    public static StatusReply Capture(string agentVersion)
    {
        Readiness readiness = Readiness.Assess(CheckpointTrigger.Agent);
        CracStatus status = CracStatus.Capture(readiness);
        return new StatusReply
        {
            Pid = Environment.ProcessId,
            AgentVersion = agentVersion,
            Runtime = RuntimeInformation.FrameworkDescription,
            Engine = status.Engine,
            Checkpointability = status.Checkpointability,
            Reason = status.Reason,
            Generation = status.Generation,
            RestoreTime = status.RestoreTime,
            UptimeSinceRestoreMilliseconds = status.UptimeSinceRestore?.TotalMilliseconds,
            LastRestoreMilliseconds = status.LastRestoreDuration?.TotalMilliseconds,
            LastCheckpointOutcome = status.LastCheckpointOutcome,
            LastCheckpointEngine = status.LastCheckpointEngine,
            LastCheckpointTime = status.LastCheckpointTime,
            LastCheckpointError = status.LastCheckpointError,
            BlockingFds = readiness.BlockingFds,
            PolicyError = readiness.PolicyError,
            Fidelity = Crac.Runtime.RestoreFidelity.Findings(),
        };
    }
}
