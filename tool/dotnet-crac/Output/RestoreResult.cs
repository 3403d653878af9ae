using Crac.Protocol;

namespace Crac.Tool.Output;

/// <summary>The result of <c>dotnet crac restore</c> in JSON.</summary>
internal sealed record RestoreResult(int Pid, string ImageDirectory, string Engine, double RestoreMilliseconds, bool Detached, CheckpointReportMessage? Report);
