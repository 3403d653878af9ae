using Crac.Configuration;

namespace Crac.Engines;

/// <summary>
/// A way to take the image once the coordination has prepared the process: CRIU, a pause, or a
/// simulation. Engines share one configuration scheme (see <see cref="CheckpointSettings"/>).
/// </summary>
internal abstract class CheckpointEngine
{
    public abstract string Name { get; }

    public abstract string Summary { get; }

    public virtual IReadOnlyList<EngineOptionDefinition> OptionDefinitions => [];

    /// <summary>Whether a checkpoint writes into an image directory (so one is required).</summary>
    public virtual bool TakesImage => true;

    public virtual bool SupportsKeepRunning => false;

    /// <summary>Whether the heap is compacted and trimmed before the image is taken, so it is small.</summary>
    public virtual bool CompactsHeap(EngineOptionValues options, bool keepRunning) => false;

    /// <summary>Why this engine could not take a checkpoint now, beyond what its preflight finds; null when it could.</summary>
    public virtual string? NotReadyReason() => null;

    /// <summary>
    /// Settles how this checkpoint will be taken and finds what would make it fail, without
    /// taking it. The coordinator asks after the before-checkpoint notifications, in dry runs too,
    /// and reports the problems with the resources' failures, so every problem shows at once; the
    /// plan then goes to <see cref="CheckpointAsync"/>, so nothing is resolved twice.
    /// <paramref name="trigger"/> says who would take the image: the process itself, or the tool.
    /// </summary>
    public virtual EnginePlan Preflight(ResolvedCheckpointOptions options, CheckpointTrigger trigger) => EnginePlan.Empty;

    /// <summary>For a dry run: the command that would take the image, as it would run, or null for an engine that runs none.</summary>
    public virtual IReadOnlyList<string>? DescribeCommand(ResolvedCheckpointOptions options, EnginePlan plan, FdSummary summary) => null;

    public abstract Task<EngineResult> CheckpointAsync(EngineRequest request);
}
