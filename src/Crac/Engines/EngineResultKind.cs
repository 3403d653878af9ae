namespace Crac.Engines;

internal enum EngineResultKind
{
    /// <summary>This process is a restored one (or the simulation of one).</summary>
    Restored,

    /// <summary>The image was taken and this is the original process, carrying on.</summary>
    KeptRunning,

    /// <summary>No image was taken; the process carries on, and the failure says why.</summary>
    Failed,
}
