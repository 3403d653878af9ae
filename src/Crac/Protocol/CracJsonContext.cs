using System.Text.Json.Serialization;
using Crac.Diagnostics;
using Crac.Engines;

namespace Crac.Protocol;

/// <summary>
/// Source-generated serialisation for every message of the protocol and the image metadata:
/// no reflection at run time in the agent, and the same shapes on both sides.
/// </summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    WriteIndented = false)]
[JsonSerializable(typeof(ExceptionNode))]
[JsonSerializable(typeof(AgentReply))]
[JsonSerializable(typeof(HelpReply))]
[JsonSerializable(typeof(StatusReply))]
[JsonSerializable(typeof(CheckpointCommand))]
[JsonSerializable(typeof(CheckpointAccepted))]
[JsonSerializable(typeof(OutcomeCommand))]
[JsonSerializable(typeof(OutcomeReply))]
[JsonSerializable(typeof(ResumeCommand))]
[JsonSerializable(typeof(ResumeReply))]
[JsonSerializable(typeof(ImageMetadata))]
[JsonSerializable(typeof(DumpInstructions))]
[JsonSerializable(typeof(FdsReply))]
internal sealed partial class CracJsonContext : JsonSerializerContext;
