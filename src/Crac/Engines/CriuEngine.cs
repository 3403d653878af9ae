namespace Crac.Engines;

// WIP-CRIU: replaced by the real engine in the CRIU issue.
internal sealed class CriuEngine : CheckpointEngine
{
    public override string Name => "criu";

    public override string Summary => "checkpoints and restores the process with CRIU";

    public override Task<EngineResult> CheckpointAsync(EngineRequest request) =>
        Task.FromResult(new EngineResult(EngineResultKind.Failed) { Failure = new NotSupportedException("WIP-CRIU") });
}
