using Crac.FileDescriptors;

namespace Crac.Protocol;

/// <summary>One descriptor as `fds` reports it.</summary>
internal sealed record FdMessage
{
    public required int Fd { get; init; }

    public required FdKind Kind { get; init; }

    public required string Target { get; init; }

    public required string Mode { get; init; }

    public required long Position { get; init; }

    public required bool CloseOnExec { get; init; }

    public required bool Blocking { get; init; }

    public required string Reason { get; init; }

    /// <summary>For a blocking descriptor: how to make the checkpoint pass.</summary>
    public string? Fix { get; init; }

    /// <summary>What a checkpoint does with it by itself (keep a listener, shut a connection down, take a lock along).</summary>
    public FdAutomaticAction Action { get; init; }

    public string? Socket { get; init; }

    public bool Locked { get; init; }

    public int? PolicyRule { get; init; }

    public PolicyAction? PolicyAction { get; init; }

    public FdOriginMessage? Origin { get; init; }

    public static FdMessage From(FdAssessment assessment) => new()
    {
        Fd = assessment.Entry.Fd,
        Kind = assessment.Entry.Kind,
        Target = assessment.Entry.Target,
        Mode = assessment.Entry.Mode,
        Position = assessment.Entry.Position,
        CloseOnExec = assessment.Entry.CloseOnExec,
        Blocking = assessment.Blocking,
        Reason = assessment.Reason,
        Fix = assessment.Fix,
        Action = assessment.Action,
        Socket = assessment.Entry.Socket?.Describe(),
        Locked = assessment.Entry.HasLock,
        PolicyRule = assessment.Rule?.Index,
        PolicyAction = assessment.Rule?.Action,
        Origin = assessment.Origin is { } origin
            ? new FdOriginMessage(origin.ThreadName, origin.Time, origin.ManagedStack, origin.NativeStack)
            : null,
    };
}
