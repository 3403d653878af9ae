namespace Crac.Engines;

/// <summary>
/// The embedded default: runs the whole coordination as a real checkpoint would and takes no
/// image. It counts as a restore, so the generation and restore time move as they would.
/// </summary>
internal sealed class SimulateEngine : CheckpointEngine
{
    public override string Name => "simulate";

    public override string Summary => "runs the whole coordination as a checkpoint would, takes no image, and counts as a restore";

    public override bool TakesImage => false;

    // The process carries on whatever the option says; accepting it keeps scripts portable.
    public override bool SupportsKeepRunning => true;

    public override Task<EngineResult> CheckpointAsync(EngineRequest request) =>
        Task.FromResult(new EngineResult(EngineResultKind.Restored)
        {
            Restore = new RestoreContext(null, null, DateTimeOffset.UtcNow),
        });
}
