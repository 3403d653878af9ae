using System.Text.Json.Serialization;
using Crac.Diagnostics;

namespace Crac.Engines;

/// <summary>Why a parked checkpoint is woken.</summary>
[JsonConverter(typeof(KebabCaseEnumConverter<ResumeKind>))]
internal enum ResumeKind
{
    /// <summary>The process was restored from its image (or woken from a pause).</summary>
    Restored,

    /// <summary>The image was taken and the original process carries on (keep-running).</summary>
    KeptRunning,

    /// <summary>The dump failed; the process carries on and must roll back.</summary>
    DumpFailed,
}
