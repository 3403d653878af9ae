using System.Text.Json.Serialization;
using Crac.Diagnostics;

namespace Crac.Coordination;

/// <summary>How a checkpoint ended, as <see cref="Management.CracStatus.LastCheckpointOutcome"/> and the reports give it.</summary>
[JsonConverter(typeof(KebabCaseEnumConverter<CheckpointOutcome>))]
internal enum CheckpointOutcome
{
    /// <summary>No checkpoint has run in this process.</summary>
    None,

    /// <summary>The process was restored from its image (or woken, or the simulation of one).</summary>
    Restored,

    /// <summary>The image was taken and the original process carries on.</summary>
    KeptRunning,

    DryRunPassed,

    /// <summary>The checkpoint failed; every notified resource was restored and the process carries on.</summary>
    Failed,

    /// <summary>The process was restored, but an after-restore notification failed.</summary>
    RestoreFailed,

    /// <summary>The image was written and the process exited; only the tool, which took the dump, reports this.</summary>
    Imaged,
}
