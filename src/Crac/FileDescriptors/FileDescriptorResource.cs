using Crac.Coordination;

namespace Crac.FileDescriptors;

/// <summary>
/// The runtime resource that runs last before a checkpoint: it applies the resource policies
/// (closing or parking descriptors) and fails the checkpoint, with one exception per
/// descriptor, for every descriptor the application left open. After the restore it reopens
/// what the policies asked to reopen, at the same number and position.
/// </summary>
internal sealed class FileDescriptorResource : IResource
{
    private readonly List<ParkedDescriptor> _parked = [];

    public static FileDescriptorResource Instance { get; } = new();

    /// <summary>Registers the resource in the file-descriptor tier of the global context (once).</summary>
    public static void Install() => Coordinator.Global.FileDescriptors.Register(Instance);

    public Task BeforeCheckpointAsync(Context context, CancellationToken cancellationToken)
    {
        // A malformed policy file fails the checkpoint; it must never take the app down.
        PolicyLoad load = PolicyLoad.FromEnvironment();
        if (load.Error is { } error)
        {
            throw new CheckpointException(error);
        }

        IReadOnlyList<FdAssessment> assessments = FdInspection.AssessSettled(load.Policies);
        var failures = Aggregates.Checkpoint();
        foreach (FdAssessment assessment in assessments.Where(a => a.Blocking))
        {
            failures.AddSuppressed(FdExceptions.For(assessment));
        }

        CheckpointScope? scope = CheckpointScope.Current;
        bool commit = failures.Suppressed.Count == 0 && scope is not { Failing: true } && scope is not { DryRun: true };
        foreach (FdAssessment assessment in assessments.Where(a => a.Rule is { Action: not PolicyAction.Error }))
        {
            PolicyRule rule = assessment.Rule!;
            if (rule.Warn)
            {
                Console.Error.WriteLine($"crac: warning: fd {assessment.Entry.Fd} ({assessment.Entry.Target}) is open at checkpoint; {rule.Describe()}.");
            }

            // Close nothing while the checkpoint is failing anyway: there would be nothing to restore.
            if (commit && rule.Action is PolicyAction.Close or PolicyAction.Reopen)
            {
                _parked.Add(ParkedDescriptor.Park(assessment.Entry, rule.Action));
            }
        }

        if (failures.Suppressed.Count > 0)
        {
            throw failures;
        }

        return Task.CompletedTask;
    }

    public Task AfterRestoreAsync(Context context, CancellationToken cancellationToken)
    {
        // After a real restore, only 'reopen' reopens, and the policy file is read again (the
        // restored process may have been given another one). After a failed or kept-running
        // checkpoint everything parked is put back as it was.
        bool restored = CheckpointScope.Current is { Restored: true };
        if (restored)
        {
            FdClassifier.RefreshInheritedDescriptors();
        }

        if (_parked.Count == 0)
        {
            return Task.CompletedTask;
        }

        ResourcePolicies? policies = null;
        var failures = Aggregates.Restore();
        if (restored)
        {
            PolicyLoad load = PolicyLoad.FromEnvironment();
            policies = load.Policies;
            if (load.Error is { } error)
            {
                failures.AddSuppressed(new InvalidOperationException(error));
            }
        }

        foreach (ParkedDescriptor parked in _parked)
        {
            try
            {
                PolicyAction action = !restored ? PolicyAction.Reopen
                    : policies?.Match(parked.Entry)?.Action ?? parked.Action;
                parked.Unpark(reopen: action == PolicyAction.Reopen);
            }
            catch (IOException exception)
            {
                failures.AddSuppressed(exception);
            }
        }

        _parked.Clear();
        if (failures.Suppressed.Count > 0)
        {
            throw failures;
        }

        return Task.CompletedTask;
    }

    public override string ToString() => "file descriptors";
}
