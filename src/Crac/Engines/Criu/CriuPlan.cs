namespace Crac.Engines.Criu;

/// <summary>The criu engine's preflight: its settings, resolved once, and the criu binary it was pointed at.</summary>
internal sealed record CriuPlan(IReadOnlyList<Exception> Problems, CriuSettings Settings, string? CriuPath) : EnginePlan(Problems)
{
    public override ImageCapabilities Capabilities => Settings.Capabilities;
}
