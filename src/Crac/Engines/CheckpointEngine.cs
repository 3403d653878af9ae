using Crac.Configuration;
using Crac.Management;

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
    public virtual bool CompactsHeap(EngineOptionValues options) => false;

    /// <summary>The engine's view of whether a checkpoint can be taken now. Advisory.</summary>
    public virtual (Checkpointability Status, string? Reason) GetCheckpointability() => (Checkpointability.Ready, null);

    /// <summary>
    /// Settles how this checkpoint will be taken and finds what would make it fail, without
    /// taking it. The coordinator asks after the before-checkpoint notifications, in dry runs too,
    /// and reports the problems with the resources' failures, so every problem shows at once; the
    /// plan then goes to <see cref="CheckpointAsync"/>, so nothing is resolved twice.
    /// </summary>
    public virtual EnginePlan Preflight(ResolvedCheckpointOptions options) => EnginePlan.Empty;

    public abstract Task<EngineResult> CheckpointAsync(EngineRequest request);
}
