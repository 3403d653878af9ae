using Crac.Configuration;

namespace Crac.Engines;

/// <summary>A checkpoint's options once code, environment and defaults are merged and checked.</summary>
internal sealed record ResolvedCheckpointOptions(
    CheckpointEngine Engine,
    string? ImageDirectory,
    EngineOptionValues EngineOptions,
    TimeSpan Timeout,
    bool DryRun,
    bool KeepRunning)
{
    /// <summary>The operator's resource policies for this checkpoint only (dotnet crac checkpoint --policies).</summary>
    public PolicyText? OperatorPolicies { get; init; }

    /// <summary>Every time limit of this checkpoint, by the one rule that derives them from its timeout.</summary>
    public CheckpointLimits Limits { get; } = CheckpointLimits.For(Timeout);
}
