namespace Crac.FileDescriptors;

/// <summary>An fd with its verdict, like the JVM's "OK: inherited" or "BAD: opened by application", and what to do about it.</summary>
internal sealed record FdAssessment(FdEntry Entry, bool Blocking, string Reason)
{
    /// <summary>For a blocking descriptor: how to make the checkpoint pass.</summary>
    public string? Fix { get; init; }

    /// <summary>What the checkpoint does with it by itself.</summary>
    public FdAutomaticAction Action { get; init; }

    /// <summary>The first policy rule that matched, if any.</summary>
    public PolicyRule? Rule { get; init; }

    public FdOrigin? Origin { get; init; }

    public string Verdict => Blocking ? "BAD" : "OK";
}
