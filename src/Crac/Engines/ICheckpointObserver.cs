namespace Crac.Engines;

/// <summary>
/// Follows a running checkpoint: the coordinator reports its phases, and an engine that parks the
/// process says so explicitly. The agent turns these into the state the tool polls and into events.
/// </summary>
internal interface ICheckpointObserver
{
    void OnPhase(CheckpointPhase phase);

    /// <summary>The process is ready to be imaged and waits for the tool to run CRIU with these instructions.</summary>
    void OnWaitingForDump(Criu.DumpInstructions instructions);

    /// <summary>The pause engine stopped the process at its coordination point; a restore wakes it.</summary>
    void OnPaused();
}
