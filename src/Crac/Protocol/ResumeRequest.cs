using Crac.Engines;

namespace Crac.Protocol;

/// <summary>Wakes a parked checkpoint.</summary>
internal sealed record ResumeRequest
{
    public required ResumeKind Kind { get; init; }

    public Dictionary<string, string>? Environment { get; init; }

    public List<string>? Arguments { get; init; }

    public DateTimeOffset? RestoreStartedAt { get; init; }

    /// <summary>For a failed dump: CRIU's error lines.</summary>
    public string? Failure { get; init; }

    public RestoreSignal ToSignal() => new(Kind, new RestoreContext(Environment, Arguments, RestoreStartedAt), Failure);
}
