namespace Crac.Engines;

/// <summary>How an engine's part of a checkpoint ended.</summary>
internal sealed record EngineResult(EngineResultKind Kind)
{
    public RestoreContext? Restore { get; init; }

    public Exception? Failure { get; init; }

    public string? ImageDirectory { get; init; }

    public static EngineResult Failed(Exception failure, string? imageDirectory) =>
        new(EngineResultKind.Failed) { Failure = failure, ImageDirectory = imageDirectory };
}
