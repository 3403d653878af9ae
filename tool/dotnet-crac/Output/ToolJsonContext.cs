using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Crac.Protocol;
using Crac.Tool.CommandLine.Commands;

namespace Crac.Tool.Output;

/// <summary>One line of <c>dotnet crac ps</c>.</summary>
internal sealed record ProcessEntry(int Pid, string Name, bool? Agent, string? Checkpointability, string? Reason, string? Engine, string CommandLine);

/// <summary>The result of <c>dotnet crac checkpoint</c> in JSON.</summary>
internal sealed record CheckpointResult(int Pid, string CheckpointId, string State, CheckpointReportMessage? Report, string? ImageDirectory);

/// <summary>The result of <c>dotnet crac restore</c> in JSON.</summary>
internal sealed record RestoreResult(int Pid, string ImageDirectory, string Engine, double RestoreMilliseconds, bool Detached, CheckpointReportMessage? Report);

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    WriteIndented = true)]
[JsonSerializable(typeof(ProcessEntry[]))]
[JsonSerializable(typeof(CheckpointResult))]
[JsonSerializable(typeof(RestoreResult))]
[JsonSerializable(typeof(StatusReply))]
[JsonSerializable(typeof(FdsReply))]
[JsonSerializable(typeof(HelpReply))]
[JsonSerializable(typeof(DoctorReport))]
internal sealed partial class ToolJsonContext : JsonSerializerContext
{
    public static void Write<T>(T value, JsonTypeInfo<T> typeInfo) =>
        Console.Out.WriteLine(JsonSerializer.Serialize(value, typeInfo));
}
