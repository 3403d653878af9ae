namespace Crac.Engines;

/// <summary>What an engine's preflight settled: the problems it found, and (in a subclass) how it will take the image.</summary>
internal record EnginePlan(IReadOnlyList<Exception> Problems)
{
    public static readonly EnginePlan Empty = new([]);

    /// <summary>What the image takes along as it is: the fd verdicts follow it.</summary>
    public virtual ImageCapabilities Capabilities => ImageCapabilities.CriuDefaults;
}
