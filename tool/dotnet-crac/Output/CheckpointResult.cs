using Crac.Configuration;
using Crac.Protocol;

namespace Crac.Tool.Output;

/// <summary>The result of <c>dotnet crac checkpoint</c> in JSON.</summary>
internal sealed record CheckpointResult(int Pid, string CheckpointId, CheckpointState State, CheckpointReportMessage? Report, string? ImageDirectory, CheckpointLimits Limits);
