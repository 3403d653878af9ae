using System.Text.Json.Serialization;
using Crac.Diagnostics;

namespace Crac.Protocol;

/// <summary>Why the agent refused a request.</summary>
[JsonConverter(typeof(KebabCaseEnumConverter<AgentErrorCode>))]
internal enum AgentErrorCode
{
    UnknownCommand,
    BadRequest,
    ProtocolMismatch,

    /// <summary>A checkpoint is already running.</summary>
    Busy,

    /// <summary>The request names something the agent does not know (a checkpoint id).</summary>
    NotFound,

    /// <summary>The agent failed; the message says how.</summary>
    Internal,
}
