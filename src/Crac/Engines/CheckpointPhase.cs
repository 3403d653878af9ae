using System.Text.Json.Serialization;
using Crac.Diagnostics;

namespace Crac.Engines;

/// <summary>The steps of a checkpoint, in the order they run, as reports and progress name them.</summary>
[JsonConverter(typeof(KebabCaseEnumConverter<CheckpointPhase>))]
internal enum CheckpointPhase
{
    Starting,
    BeforeCheckpoint,
    CompactHeap,

    /// <summary>The engine takes the image (or, for simulate, pretends to).</summary>
    Checkpoint,
    SimulatedCheckpoint,

    /// <summary>Parked: the process is ready to be imaged and waits for the tool's dump.</summary>
    WaitingForDump,

    /// <summary>Parked: the pause engine stopped the process until a restore wakes it.</summary>
    Paused,

    /// <summary>CRIU's dump, run by the tool for a process that waits for it.</summary>
    CriuDump,
    AfterRestore,
}
