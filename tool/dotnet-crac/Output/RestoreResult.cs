using Crac.Protocol;

namespace Crac.Tool.Output;

/// <summary>The result of <c>dotnet crac restore</c> in JSON.</summary>
/// <remarks><see cref="Output"/> and <see cref="Error"/>: where a detached restored process writes its stdout and stderr.</remarks>
internal sealed record RestoreResult(
    int Pid, string ImageDirectory, string Engine, double RestoreMilliseconds, bool Detached, CheckpointReportMessage? Report, string? Output, string? Error);
