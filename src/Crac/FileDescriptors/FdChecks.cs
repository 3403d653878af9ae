namespace Crac.FileDescriptors;

/// <summary>Turns blocking descriptors into the exceptions CRaC reports for them.</summary>
internal static class FdChecks
{
    public static Exception ToException(FdAssessment assessment)
    {
        FdEntry entry = assessment.Entry;
        Exception? cause = assessment.Origin?.ToException();
        string hint = cause is not null || FdOrigins.Tracking ? string.Empty
            : FdOrigins.Enabled ? $" Its origin was not recorded: {FdOrigins.NotPreloadedMessage}"
            : $" Set {FdOrigins.EnvironmentVariable}=true to record where it was opened.";
        string lockNote = entry.HasLock ? " It holds a file lock, which CRIU refuses to dump." : string.Empty;
        string fix = $"Close it in a resource's BeforeCheckpointAsync, or add a rule to the resource policies ({ResourcePolicies.EnvironmentVariable}).";
        return entry.Kind switch
        {
            FdKind.File or FdKind.Directory => new CheckpointOpenFileException(
                $"FileDescriptor {entry.Fd} left open: {entry.Path} ({entry.KindName}, mode {entry.Mode}, position {entry.Position}).{lockNote} {fix}{hint}", cause),
            FdKind.TcpSocket or FdKind.UdpSocket or FdKind.UnixSocket or FdKind.Socket => new CheckpointOpenSocketException(
                $"Socket fd={entry.Fd} left open: {entry.Socket?.Describe() ?? entry.Target}. {fix}{hint}", cause),
            _ => new CheckpointOpenResourceException(
                $"FD fd={entry.Fd} type={entry.KindName.Replace(' ', '-')} path={entry.Target} left open: {assessment.Reason}. {fix}{hint}", cause),
        };
    }

    // Long enough for another thread to finish an open-then-close or a pipe's two closes.
    private static readonly TimeSpan SettleDelay = TimeSpan.FromMilliseconds(20);

    /// <summary>Scans and assesses every descriptor now.</summary>
    public static IReadOnlyList<FdAssessment> AssessAll(ResourcePolicies? policies) => FdClassifier.Assess(FdScanner.Scan(), policies);

    /// <summary>
    /// Assesses every descriptor for a checkpoint, taking a second look when any blocks. The JVM
    /// checks with every thread stopped; here the application's threads run on, and a descriptor
    /// caught mid-way (a file between its open and close, a pipe between its two closes) is no
    /// leak. Only what blocks in both looks, with the same fd and inode, fails the checkpoint.
    /// </summary>
    public static IReadOnlyList<FdAssessment> AssessSettled(ResourcePolicies? policies) => Settle(() => AssessAll(policies), SettleDelay);

    internal static IReadOnlyList<FdAssessment> Settle(Func<IReadOnlyList<FdAssessment>> assess, TimeSpan delay)
    {
        IReadOnlyList<FdAssessment> first = assess();
        if (!first.Any(a => a.Blocking))
        {
            return first;
        }

        Thread.Sleep(delay);
        var blockedBefore = first.Where(a => a.Blocking).Select(a => (a.Entry.Fd, a.Entry.Inode)).ToHashSet();
        return [.. assess().Where(a => !a.Blocking || blockedBefore.Contains((a.Entry.Fd, a.Entry.Inode)))];
    }
}
