using Crac.Configuration;
using Crac.Coordination;
using Crac.Management;

namespace Crac.Engines;

/// <summary>Who asked for the checkpoint: the application itself, or an operator through the agent.</summary>
internal enum CheckpointTrigger
{
    /// <summary>Core.CheckpointRestore in the application: the process runs the whole checkpoint itself.</summary>
    Api,

    /// <summary>The dotnet-crac tool through the agent: an engine that needs privileges leaves that step to the tool.</summary>
    Agent,
}

internal sealed record EngineRequest(
    ResolvedCheckpointOptions Options,
    CheckpointTrigger Trigger,
    Action<string> ReportPhase,
    CancellationToken Deadline);

internal enum EngineResultKind
{
    /// <summary>This process is a restored one (or the simulation of one).</summary>
    Restored,

    /// <summary>The image was taken and this is the original process, carrying on.</summary>
    KeptRunning,

    /// <summary>No image was taken; the process carries on, and the failure says why.</summary>
    Failed,
}

/// <summary>What the restorer hands the restored process: its environment and new arguments.</summary>
internal sealed record RestoreContext(
    IReadOnlyDictionary<string, string>? Environment,
    IReadOnlyList<string>? Arguments,
    DateTimeOffset? RestoreStartedAt);

internal sealed record PhaseTiming(string Name, TimeSpan Duration);

internal sealed record EngineResult(EngineResultKind Kind)
{
    public RestoreContext? Restore { get; init; }

    public Exception? Failure { get; init; }

    public string? ImageDirectory { get; init; }

    public IReadOnlyList<PhaseTiming> Phases { get; init; } = [];
}

/// <summary>
/// A way to take the image once the coordination has prepared the process: CRIU, a pause, or a
/// simulation. Engines share one configuration scheme (see <see cref="CracSettings"/>).
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
    public virtual (Checkpointability Status, string? Reason) GetCheckpointability(CracState state) =>
        (Checkpointability.Ready, null);

    /// <summary>
    /// What would make this engine's checkpoint fail, found without taking it. The coordinator asks
    /// after the before-checkpoint notifications, in dry runs too, and reports these with the
    /// resources' failures, so every problem shows at once.
    /// </summary>
    public virtual IReadOnlyList<Exception> Preflight(ResolvedCheckpointOptions options) => [];

    public abstract Task<EngineResult> CheckpointAsync(EngineRequest request);
}

internal static class CheckpointEngines
{
    public static readonly IReadOnlyList<CheckpointEngine> All = [new SimulateEngine(), new Criu.CriuEngine(), new PauseEngine()];

    public static CheckpointEngine? Find(string name) =>
        All.FirstOrDefault(engine => string.Equals(engine.Name, name.Trim(), StringComparison.OrdinalIgnoreCase));

    public static string UnknownEngineMessage(string name) =>
        $"Unknown checkpoint engine '{name}'. The engines are: {string.Join(", ", All.Select(e => e.Name))}.";
}
