namespace Crac.Management;

/// <summary>Whether the process can be checkpointed now, as the engine sees it.</summary>
public enum Checkpointability
{
    /// <summary>The engine can take a checkpoint now.</summary>
    Ready,

    /// <summary>The engine cannot take a checkpoint now but could later; see the reason.</summary>
    ReadyLater,

    /// <summary>The engine cannot take another checkpoint in this restored process; see the reason.</summary>
    NeverAfterRestore,
}
