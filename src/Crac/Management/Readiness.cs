using Crac.Configuration;
using Crac.Coordination;
using Crac.Diagnostics;
using Crac.Engines;
using Crac.FileDescriptors;

namespace Crac.Management;

/// <summary>
/// Whether a checkpoint would pass now, found without running one: the configuration resolves, no
/// checkpoint runs, the engine's preflight finds nothing, the policies can be used and no
/// descriptor would block. What only a dry run can tell, the resources' own answers, is not asked.
/// </summary>
internal sealed record Readiness(Checkpointability Checkpointability, string? Reason, string Engine, int BlockingFds, string? PolicyError)
{
    // Once asked, the agent installs its checks in milliseconds.
    private static readonly TimeSpan AgentStartWait = TimeSpan.FromSeconds(5);

    /// <param name="trigger">Who would take the image: the tool (<c>status</c>), or the process itself (<see cref="Core.Status"/>).</param>
    /// <param name="operatorPolicies">The operator's policies for this checkpoint, if any.</param>
    public static Readiness Assess(CheckpointTrigger trigger, PolicyText? operatorPolicies = null)
    {
        ResolvedCheckpointOptions options;
        try
        {
            // The image directory comes with the checkpoint (--image-dir) as often as from the
            // environment: resolve as a dry run, which needs none.
            options = CheckpointSettings.Resolve(new CheckpointOptions { DryRun = true });
        }
        catch (ArgumentException exception)
        {
            return new Readiness(Checkpointability.ReadyLater, FirstLine(exception.Message), CracSettings.ConfiguredEngineName, 0, null);
        }

        string engine = options.Engine.Name;
        if (!RuntimeResources.WaitUntilInstalled(AgentStartWait))
        {
            return new Readiness(Checkpointability.ReadyLater,
                $"The dotnet-crac agent has not installed its checks within {AgentStartWait.TotalSeconds:0} s of being asked; ask again.", engine, 0, null);
        }

        if (Coordinator.IsRunning)
        {
            return new Readiness(Checkpointability.ReadyLater,
                $"A checkpoint is in progress ({WireNames.Of(Coordinator.State.CurrentPhase ?? CheckpointPhase.Starting)}).", engine, 0, null);
        }

        EnginePlan plan = options.Engine.Preflight(options, trigger);
        PolicySet policies = PolicySet.Load(operatorPolicies);

        // Without the agent nothing checks descriptors at a checkpoint, so none can block one.
        FdAssessment[] blocking = FileDescriptorResource.Installed
            ? [.. FdInspection.AssessAhead(plan.Capabilities, policies).Where(a => a.Blocking)]
            : [];
        string? reason = plan.Problems.Select(problem => FirstLine(problem.Message)).FirstOrDefault()
            ?? (policies.Error is { } error ? $"The resource policies cannot be used: {error}" : null)
            ?? (blocking.Length > 0
                ? $"{blocking.Length} file descriptor(s) would block a checkpoint; the first: fd {blocking[0].Entry.Fd} ({blocking[0].Entry.Socket?.Describe() ?? blocking[0].Entry.Target}): {blocking[0].Reason}."
                : null)
            ?? options.Engine.NotReadyReason();
        return new Readiness(reason is null ? Checkpointability.Ready : Checkpointability.ReadyLater, reason, engine, blocking.Length, policies.Error);
    }

    private static string FirstLine(string text) => text.Split('\n')[0];
}
