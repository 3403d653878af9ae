namespace Crac.Coordination;

/// <summary>How a checkpoint ended, for the caller (Core throws it; the agent reports it).</summary>
internal sealed record CheckpointReport
{
    public required CheckpointOutcome Outcome { get; init; }

    public required string Engine { get; init; }

    public required bool DryRun { get; init; }

    public CheckpointException? CheckpointFailure { get; init; }

    public RestoreException? RestoreFailure { get; init; }

    public string? ImageDirectory { get; init; }

    public required int Generation { get; init; }

    public IReadOnlyList<PhaseTiming> Phases { get; init; } = [];

    /// <summary>For a dry run: the command the engine would run to take the image.</summary>
    public IReadOnlyList<string>? EngineCommand { get; init; }

    /// <summary>What was done automatically, in order.</summary>
    public IReadOnlyList<CheckpointAction> Actions { get; init; } = [];

    public Exception? Failure => (Exception?)CheckpointFailure ?? RestoreFailure;
}
