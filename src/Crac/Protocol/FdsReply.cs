using Crac.FileDescriptors;

namespace Crac.Protocol;

internal sealed record FdsReply
{
    public required int Pid { get; init; }

    public required bool OriginsCollected { get; init; }

    public string? PolicyFile { get; init; }

    /// <summary>Set when the policy file cannot be used: the fds are then judged without it, and a checkpoint would fail on it.</summary>
    public string? PolicyError { get; init; }

    public required IReadOnlyList<FdMessage> Fds { get; init; }

    /// <summary>Every descriptor of the process now, judged with the process's policies, in one call.</summary>
    public static FdsReply Capture()
    {
        PolicyLoad policies = PolicyLoad.FromEnvironment();
        return new FdsReply
        {
            Pid = Environment.ProcessId,
            OriginsCollected = FdOrigins.Tracking,
            PolicyFile = policies.Source,
            PolicyError = policies.Error,
            Fds = [.. FdInspection.AssessAll(policies.Policies).Select(FdMessage.From)],
        };
    }
}
