using Crac.Coordination;
using Crac.Engines;
using Crac.Interop;

namespace Crac.FileDescriptors;

/// <summary>
/// The runtime resource that runs last before a checkpoint: it judges every descriptor as the dump
/// will treat it, fails the checkpoint with one exception per descriptor that would block it, and
/// otherwise does what the checkpoint does by itself (shuts down the connections this process
/// accepted) and what the policies ask (closing or parking descriptors), recording each action in
/// the report. After the restore it reopens what the policies asked to reopen, at the same number
/// and position.
/// </summary>
internal sealed class FileDescriptorResource : IResource
{
    private const string Source = "file descriptors";
    private const int ListedPerAction = 5;

    private readonly List<ParkedDescriptor> _parked = [];

    public static FileDescriptorResource Instance { get; } = new();

    /// <summary>Whether the agent installed fd handling: only then does a checkpoint check descriptors.</summary>
    public static bool Installed { get; private set; }

    /// <summary>Registers the resource in the file-descriptor tier of the global context (once).</summary>
    public static void Install()
    {
        Coordinator.Global.FileDescriptors.Register(Instance);
        Installed = true;
    }

    /// <summary>After-restore's first look at the inherited descriptors, ahead of it and with no effect (see AgentHost.WarmUp).</summary>
    public static void WarmUp() => _ = FdClassifier.InheritedDescriptorsNow();

    public Task BeforeCheckpointAsync(Context context, CancellationToken cancellationToken)
    {
        CheckpointScope? scope = CheckpointScope.Current;

        // A malformed policy file fails the checkpoint; it must never take the app down.
        PolicySet policies = PolicySet.Load(scope?.OperatorPolicies);
        if (policies.Error is { } error)
        {
            throw new CheckpointException(error);
        }

        IReadOnlyList<FdAssessment> assessments = FdInspection.AssessSettled(scope?.Capabilities ?? ImageCapabilities.CriuDefaults, policies);
        var failures = Aggregates.Checkpoint();
        foreach (FdAssessment assessment in assessments.Where(a => a.Blocking))
        {
            failures.AddSuppressed(FdExceptions.For(assessment));
        }

        foreach (FdAssessment assessment in assessments.Where(a => a.Rule is { Warn: true, Action: not PolicyAction.Error }))
        {
            Console.Error.WriteLine($"crac: warning: fd {assessment.Entry.Fd} ({assessment.Entry.Target}) is open at checkpoint; {assessment.Rule!.Describe()}.");
        }

        if (failures.Suppressed.Count > 0)
        {
            throw failures;
        }

        if (scope is not null)
        {
            scope.FdSummary = Summarize(assessments);
        }

        // Change nothing in a dry run, or while the checkpoint is failing anyway: there would be nothing to restore.
        bool commit = scope is not { Failing: true } && scope is not { DryRun: true };
        if (scope is not { Failing: true })
        {
            RecordActions(assessments, commit);
        }

        foreach (FdAssessment assessment in assessments.Where(a => commit && a.Rule is { Action: PolicyAction.Close or PolicyAction.Reopen }))
        {
            _parked.Add(ParkedDescriptor.Park(assessment.Entry, assessment.Rule!.Action));
        }

        if (commit)
        {
            foreach (FdAssessment assessment in assessments.Where(a => a.Action == FdAutomaticAction.CloseInbound))
            {
                CloseInbound(assessment.Entry);
            }
        }

        return Task.CompletedTask;
    }

    /// <summary>
    /// Shuts a connection this process accepted down, so its client sees a close: the owner's next
    /// read sees the end and closes it. A unix one is also parked: CRIU has no way to restore it closed.
    /// </summary>
    private void CloseInbound(FdEntry entry)
    {
        Libc.shutdown(entry.Fd, Libc.SHUT_RDWR);
        if (entry.Kind == FdKind.UnixSocket)
        {
            _parked.Add(ParkedDescriptor.Park(entry, PolicyAction.Close));
        }
    }

    /// <summary>What decides the engine's automatic flags (see <see cref="Engines.Criu.CriuSettings.ForDump"/>).</summary>
    internal static FdSummary Summarize(IReadOnlyList<FdAssessment> assessments) => new(
        HoldsFileLocks: assessments.Any(a => a.Action == FdAutomaticAction.TakeLockAlong),
        ServesTcp: assessments.Any(a => a.Entry.Kind == FdKind.TcpSocket && a.Action is FdAutomaticAction.KeepListening or FdAutomaticAction.CloseInbound),
        HoldsOutboundConnections: assessments.Any(a =>
            a.Entry.Socket is { IsTcp: true, Listening: false, TcpState: not (null or TcpState.Close or TcpState.Unknown) }
            && a.Action is not (FdAutomaticAction.CloseInbound or FdAutomaticAction.ClosedByOwner)
            && a.Rule?.Action is not (PolicyAction.Close or PolicyAction.Reopen)));

    /// <summary>Nothing is done silently: every automatic action and every policy that applied goes into the report.</summary>
    private static void RecordActions(IReadOnlyList<FdAssessment> assessments, bool commit)
    {
        string would = commit ? string.Empty : "would have ";
        Record(assessments, FdAutomaticAction.KeepListening, count => $"{would}kept {count} listening socket(s), which CRIU restores; connections not yet accepted are dropped");
        Record(assessments, FdAutomaticAction.CloseInbound, count => $"{would}shut down {count} connection(s) this process accepted, so their clients see a close; restored closed");
        Record(assessments, FdAutomaticAction.TakeLockAlong, count => $"{would}taken along the shared locks held through {count} read-only descriptor(s) (CRIU --file-locks)");
        foreach (FdAssessment assessment in assessments.Where(a => a.Rule is not null))
        {
            CheckpointActions.Record(Source, $"fd {assessment.Entry.Fd} ({assessment.Entry.Socket?.Describe() ?? assessment.Entry.Target}): {would}{assessment.Rule!.Describe()}");
        }
    }

    private static void Record(IReadOnlyList<FdAssessment> assessments, FdAutomaticAction action, Func<int, string> summary)
    {
        FdAssessment[] matching = [.. assessments.Where(a => a.Action == action)];
        if (matching.Length == 0)
        {
            return;
        }

        string[] names = [.. matching.Select(a => a.Entry.Socket?.Describe() ?? a.Entry.Path ?? a.Entry.Target).Distinct(StringComparer.Ordinal)];
        string listed = string.Join(", ", names.Take(ListedPerAction));
        string more = names.Length > ListedPerAction ? $" and {names.Length - ListedPerAction} more" : string.Empty;
        CheckpointActions.Record(Source, $"{summary(matching.Length)}: {listed}{more}");
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

        PolicySet policies = PolicySet.None;
        var failures = Aggregates.Restore();
        if (restored)
        {
            policies = PolicySet.Load(operatorPolicies: null);
            if (policies.Error is { } error)
            {
                failures.AddSuppressed(new InvalidOperationException(error));
            }
        }

        foreach (ParkedDescriptor parked in _parked)
        {
            try
            {
                PolicyAction action = !restored ? PolicyAction.Reopen
                    : policies.Match(parked.Entry)?.Action ?? parked.Action;
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
