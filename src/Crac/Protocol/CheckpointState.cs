using System.Text.Json.Serialization;
using Crac.Diagnostics;

namespace Crac.Protocol;

/// <summary>Where a checkpoint started by the agent stands.</summary>
[JsonConverter(typeof(KebabCaseEnumConverter<CheckpointState>))]
internal enum CheckpointState
{
    /// <summary>Resources are being notified, or the engine is working.</summary>
    Running,

    /// <summary>The process is ready to be imaged and waits for the tool to run CRIU.</summary>
    WaitingForDump,

    /// <summary>The pause engine stopped the process; a restore wakes it.</summary>
    Paused,

    /// <summary>Finished; the report says how.</summary>
    Done,
}
