using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Crac.Protocol;

namespace Crac.Tool.Output;

/// <summary>The tool's JSON output (--format json), indented for people and stable for scripts.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    WriteIndented = true)]
[JsonSerializable(typeof(ProcessEntry[]))]
[JsonSerializable(typeof(CheckpointResult))]
[JsonSerializable(typeof(RestoreResult))]
[JsonSerializable(typeof(ColdStartResult))]
[JsonSerializable(typeof(StatusReply))]
[JsonSerializable(typeof(FdsReply))]
[JsonSerializable(typeof(HelpReply))]
[JsonSerializable(typeof(DoctorReport))]
[JsonSerializable(typeof(InspectReport))]
internal sealed partial class ToolJsonContext : JsonSerializerContext
{
    public static void Write<T>(T value, JsonTypeInfo<T> typeInfo) =>
        Console.Out.WriteLine(JsonSerializer.Serialize(value, typeInfo));
}
