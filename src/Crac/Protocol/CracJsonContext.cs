using System.Text.Json.Serialization;
using Crac.Diagnostics;

namespace Crac.Protocol;

/// <summary>
/// Source-generated serialisation for every message of the protocol: no reflection at run time in
/// the agent, and the same shapes on both sides. Enums travel as strings (see <see cref="WireNames"/>).
/// </summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    WriteIndented = false)]
[JsonSerializable(typeof(ExceptionNode))]
[JsonSerializable(typeof(AgentReply))]
[JsonSerializable(typeof(HelpRequest))]
[JsonSerializable(typeof(HelpReply))]
[JsonSerializable(typeof(StatusRequest))]
[JsonSerializable(typeof(StatusReply))]
[JsonSerializable(typeof(FdsRequest))]
[JsonSerializable(typeof(FdsReply))]
[JsonSerializable(typeof(CheckpointRequest))]
[JsonSerializable(typeof(CheckpointReply))]
[JsonSerializable(typeof(OutcomeRequest))]
[JsonSerializable(typeof(OutcomeReply))]
[JsonSerializable(typeof(ResumeRequest))]
[JsonSerializable(typeof(ResumeReply))]
internal sealed partial class CracJsonContext : JsonSerializerContext;
