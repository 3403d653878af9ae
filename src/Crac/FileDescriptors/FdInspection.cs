using Crac.Engines;

namespace Crac.FileDescriptors;

/// <summary>Scans this process's descriptors and judges each: the verdicts `fds`, `status` and a checkpoint share.</summary>
internal static class FdInspection
{
    // Long enough for another thread to finish an open-then-close or a pipe's two closes.
    private static readonly TimeSpan SettleDelay = TimeSpan.FromMilliseconds(20);

    /// <summary>Scans and judges every descriptor now, as a checkpoint would find them once the resources that claim some closed them.</summary>
    public static IReadOnlyList<FdAssessment> AssessAhead(ImageCapabilities capabilities, PolicySet policies) =>
        FdClassifier.Assess(FdScanner.Scan(), capabilities, policies, anticipateClaims: true);

    /// <summary>Scans and judges every descriptor now, as they are.</summary>
    public static IReadOnlyList<FdAssessment> AssessAll(ImageCapabilities capabilities, PolicySet policies) =>
        FdClassifier.Assess(FdScanner.Scan(), capabilities, policies);

    /// <summary>
    /// Judges every descriptor for a checkpoint, taking a second look when any blocks. The JVM
    /// checks with every thread stopped; here the application's threads run on, and a descriptor
    /// caught mid-way (a file between its open and close, a pipe between its two closes) is no
    /// leak. Only what blocks in both looks, with the same fd and inode, fails the checkpoint.
    /// </summary>
    public static IReadOnlyList<FdAssessment> AssessSettled(ImageCapabilities capabilities, PolicySet policies) =>
        Settle(() => AssessAll(capabilities, policies), SettleDelay);

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
