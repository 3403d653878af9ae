namespace Crac.Engines;

/// <summary>The engines, by name.</summary>
internal static class CheckpointEngines
{
    public static readonly IReadOnlyList<CheckpointEngine> All = [new SimulateEngine(), new Criu.CriuEngine(), new PauseEngine()];

    public static CheckpointEngine? Find(string name) =>
        All.FirstOrDefault(engine => string.Equals(engine.Name, name.Trim(), StringComparison.OrdinalIgnoreCase));

    public static string UnknownEngineMessage(string name) =>
        $"Unknown checkpoint engine '{name}'. The engines are: {string.Join(", ", All.Select(e => e.Name))}.";
}
