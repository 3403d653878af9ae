namespace Crac.Management;

/// <summary>
/// A snapshot of the coordination state, like CRaC's <c>CRaCMXBean</c>. The checkpointability is
/// advisory: a checkpoint is attempted whatever it says, and fails with the reason if it must.
/// </summary>
public sealed class CracStatus
{
    internal CracStatus()
    {
    }

    /// <summary>The engine a checkpoint uses by default (CRAC_ENGINE, or simulate).</summary>
    public required string Engine { get; init; }

    /// <summary>Whether a checkpoint can be taken now.</summary>
    public required Checkpointability Checkpointability { get; init; }

    /// <summary>Why the process is not <see cref="Checkpointability.Ready"/>, or null.</summary>
    public string? Reason { get; init; }

    /// <summary>How many times this process has been restored (0 for a process never checkpointed).</summary>
    public required int Generation { get; init; }

    /// <summary>When the last restore started, or null if the process was never restored.</summary>
    public DateTimeOffset? RestoreTime { get; init; }

    /// <summary>Time since the last restore completed, or null if the process was never restored.</summary>
    public TimeSpan? UptimeSinceRestore { get; init; }

    /// <summary>How long the last restore took, from its start to the end of after-restore notification.</summary>
    public TimeSpan? LastRestoreDuration { get; init; }

    /// <summary>
    /// The outcome of the last checkpoint: <c>none</c>, <c>restored</c>, <c>kept-running</c>,
    /// <c>dry-run-passed</c>, <c>paused</c>, <c>failed</c> or <c>restore-failed</c>.
    /// </summary>
    public required string LastCheckpointOutcome { get; init; }

    /// <summary>The engine the last checkpoint used, or null.</summary>
    public string? LastCheckpointEngine { get; init; }

    /// <summary>When the last checkpoint started, or null.</summary>
    public DateTimeOffset? LastCheckpointTime { get; init; }

    /// <summary>The first line of the last checkpoint's failure, or null.</summary>
    public string? LastCheckpointError { get; init; }

    internal static CracStatus Capture(Readiness readiness)
    {
        Coordination.CracState state = Coordination.Coordinator.State;
        return new CracStatus
        {
            Engine = readiness.Engine,
            Checkpointability = readiness.Checkpointability,
            Reason = readiness.Reason,
            Generation = state.Generation,
            RestoreTime = state.RestoreTime,
            UptimeSinceRestore = state.UptimeSinceRestore,
            LastRestoreDuration = state.LastRestoreDuration,
            LastCheckpointOutcome = Diagnostics.WireNames.Of(state.LastOutcome),
            LastCheckpointEngine = state.LastEngine,
            LastCheckpointTime = state.LastCheckpointTime,
            LastCheckpointError = state.LastError,
        };
    }
}
