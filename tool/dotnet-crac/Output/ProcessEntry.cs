namespace Crac.Tool.Output;

/// <summary>One line of <c>dotnet crac ps</c>.</summary>
internal sealed record ProcessEntry(int Pid, string Name, bool? Agent, string? Checkpointability, string? Reason, string? Engine, string CommandLine);
