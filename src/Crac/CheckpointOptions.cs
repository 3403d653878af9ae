using Crac.Engines;

namespace Crac;

/// <summary>
/// How a checkpoint is taken. A property left null falls back to its environment variable,
/// then to the default, the same scheme for every engine:
/// <list type="table">
/// <item><term><see cref="Engine"/></term><description>CRAC_ENGINE: simulate (default), criu or pause.</description></item>
/// <item><term><see cref="ImageDirectory"/></term><description>CRAC_CHECKPOINT_TO: where the image goes.</description></item>
/// <item><term><see cref="EngineOptions"/></term><description>CRAC_ENGINE_OPTIONS: <c>key=value,key=value</c>; <c>help</c> lists them.</description></item>
/// <item><term><see cref="Timeout"/></term><description>CRAC_CHECKPOINT_TIMEOUT: e.g. <c>30s</c>, <c>500ms</c>; default 30 s.</description></item>
/// </list>
/// </summary>
public sealed class CheckpointOptions
{
    /// <summary>The engine: <c>simulate</c>, <c>criu</c> or <c>pause</c>.</summary>
    public string? Engine { get; set; }

    /// <summary>The directory the image is written to (created private, 0700).</summary>
    public string? ImageDirectory { get; set; }

    /// <summary>The engine's options as <c>key=value,key=value</c>; see <see cref="GetEngineHelp"/>.</summary>
    public string? EngineOptions { get; set; }

    /// <summary>How long resources have to prepare for the checkpoint, and the engine to take it.</summary>
    public TimeSpan? Timeout { get; set; }

    /// <summary>Run the coordination and every check, report every problem, take no image, restore every resource.</summary>
    public bool DryRun { get; set; }

    /// <summary>Let the process carry on after its image is taken (engines that take an image).</summary>
    public bool KeepRunning { get; set; }

    /// <summary>
    /// The options of one engine (or of all, when <paramref name="engine"/> is null) with their
    /// types and defaults, like <c>-XX:CRaCEngineOptions=help</c>.
    /// </summary>
    public static string GetEngineHelp(string? engine = null) => EngineHelp.Describe(engine);
}
