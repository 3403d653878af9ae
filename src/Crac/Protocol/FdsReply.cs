using Crac.Engines;
using Crac.FileDescriptors;

namespace Crac.Protocol;

internal sealed record FdsReply
{
    public required int Pid { get; init; }

    public required bool OriginsCollected { get; init; }

    /// <summary>The policies files that applied, the operator's first.</summary>
    public IReadOnlyList<string> PolicyFiles { get; init; } = [];

    /// <summary>Set when the policy file cannot be used: the fds are then judged without it, and a checkpoint would fail on it.</summary>
    public string? PolicyError { get; init; }

    public required IReadOnlyList<FdMessage> Fds { get; init; }

    /// <summary>The command a checkpoint with the configured engine would run now to take the image (null for engines that run none).</summary>
    public IReadOnlyList<string>? EngineCommand { get; init; }

    /// <summary>Every descriptor of the process now, judged as a checkpoint with the configured engine would, in one call.</summary>
    public static FdsReply Capture(FdsRequest request)
    {
        ResolvedCheckpointOptions? options = null;
        EnginePlan? plan = null;
        try
        {
            options = CheckpointSettings.Resolve(new CheckpointOptions { DryRun = true });
            plan = options.Engine.Preflight(options, CheckpointTrigger.Agent);
        }
        catch (ArgumentException)
        {
            // A configuration that does not resolve is status's to report; judge by the defaults.
        }

        PolicySet policies = PolicySet.Load(request.Policies);
        IReadOnlyList<FdAssessment> assessments = FdInspection.AssessAhead(plan?.Capabilities ?? ImageCapabilities.CriuDefaults, policies);
        return new FdsReply
        {
            Pid = Environment.ProcessId,
            OriginsCollected = FdOrigins.Tracking,
            PolicyFiles = policies.Sources,
            PolicyError = policies.Error,
            Fds = [.. assessments.Select(FdMessage.From)],
            EngineCommand = options is null || plan is null ? null : options.Engine.DescribeCommand(options, plan, FileDescriptorResource.Summarize(assessments)),
        };
    }
}
