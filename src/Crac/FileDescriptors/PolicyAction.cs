using System.Text.Json.Serialization;
using Crac.Diagnostics;

namespace Crac.FileDescriptors;

[JsonConverter(typeof(KebabCaseEnumConverter<PolicyAction>))]
internal enum PolicyAction
{
    /// <summary>Fail the checkpoint (the default for any blocking fd).</summary>
    Error,

    /// <summary>Leave the fd to the engine (CRIU validates and reopens it at restore).</summary>
    Ignore,

    /// <summary>Close the fd before the checkpoint; the number stays occupied so the owner does not break.</summary>
    Close,

    /// <summary>Close the fd before the checkpoint and reopen it, at the same position and number, after restore.</summary>
    Reopen,
}
