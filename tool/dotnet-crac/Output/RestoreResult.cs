using Crac.Protocol;

namespace Crac.Tool.Output;

/// <summary>The result of <c>dotnet crac restore</c> in JSON.</summary>
/// <remarks><see cref="Output"/> and <see cref="Error"/>: where a detached restored process writes its stdout and stderr.</remarks>
internal sealed record RestoreResult(
    int Pid, string ImageDirectory, string Engine, double RestoreMilliseconds, bool Detached, CheckpointReportMessage? Report, string? Output, string? Error)
{
    /// <summary>Which path was taken: "restored" here, "cold-start" in <see cref="ColdStartResult"/>.</summary>
    public string Path => "restored";

    /// <summary>What checking the image against its manifest found, before CRIU ran.</summary>
    public Crac.Engines.ManifestCheck? Manifest { get; init; }

    /// <summary>Set when the memory came in lazily (restore --lazy-pages), or was meant to and could not.</summary>
    public LazyPagesResult? LazyPages { get; init; }
}

/// <summary>A lazy restore: the memory's size, the daemon serving it and its log; or, when not lazy, why not.</summary>
internal sealed record LazyPagesResult(bool Lazy, long Bytes, int? DaemonPid, string? Log, string? NotPossible);

/// <summary>The result of <c>dotnet crac restore --or-start</c> when the image could not be used and the command was started cold.</summary>
internal sealed record ColdStartResult(int Pid, IReadOnlyList<string> Command, int ReasonCode, string Reason, bool Detached, string? Output)
{
    public string Path => "cold-start";
}
