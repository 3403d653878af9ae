namespace Crac.FileDescriptors;

/// <summary>An fd with its verdict, like the JVM's "OK: inherited" or "BAD: opened by application".</summary>
internal sealed record FdAssessment(FdEntry Entry, bool Blocking, string Reason)
{
    /// <summary>The first policy rule that matched, if any.</summary>
    public PolicyRule? Rule { get; init; }

    public FdOrigin? Origin { get; init; }

    public string Verdict => Blocking ? "BAD" : "OK";
}
