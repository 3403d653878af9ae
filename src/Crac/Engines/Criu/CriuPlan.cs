namespace Crac.Engines.Criu;

/// <summary>
/// The criu engine's preflight: its settings, resolved once, the criu binary it was pointed at, and
/// whether the process runs CRIU on itself (the API's trigger) rather than the tool running it.
/// </summary>
internal sealed record CriuPlan(IReadOnlyList<Exception> Problems, CriuSettings Settings, string? CriuPath, bool SelfDump) : EnginePlan(Problems)
{
    public override ImageCapabilities Capabilities => Settings.Capabilities;
}
