using Crac.Engines;
using Crac.Engines.Criu;
using Crac.FileDescriptors;

namespace Crac.Tests;

/// <summary>The verdict rules on descriptors built by hand, and the automatic CRIU flags they settle (the agreement tests hold both to CRIU itself).</summary>
[TestClass]
public sealed class FdVerdictTests
{
    private static readonly ImageCapabilities Defaults = ImageCapabilities.CriuDefaults;

    [TestMethod]
    public void ASharedLockOnAReadOnlyFileIsTakenAlongAndAnyOtherLockBlocksWithTheFix()
    {
        FdAssessment read = Judge(File(readOnly: true, new FileLock(FileLockKind.Flock, Exclusive: false)));
        FdAssessment written = Judge(File(readOnly: false, new FileLock(FileLockKind.Flock, Exclusive: false)));
        FdAssessment exclusive = Judge(File(readOnly: true, new FileLock(FileLockKind.Posix, Exclusive: true)));
        FdAssessment takeAll = Judge(File(readOnly: false, new FileLock(FileLockKind.Ofd, Exclusive: true)), Defaults with { Locks = FileLockHandling.TakeAll });
        FdAssessment refuse = Judge(File(readOnly: true, new FileLock(FileLockKind.Flock, Exclusive: false)), Defaults with { Locks = FileLockHandling.Refuse });

        Assert.AreEqual((false, FdAutomaticAction.TakeLockAlong), (read.Blocking, read.Action));
        Assert.IsTrue(written.Blocking);
        StringAssert.Contains(written.Fix, "action: reopen");
        Assert.IsTrue(exclusive.Blocking);
        StringAssert.StartsWith(exclusive.Reason, "holds an exclusive POSIX lock");
        Assert.AreEqual((false, FdAutomaticAction.TakeLockAlong), (takeAll.Blocking, takeAll.Action));
        Assert.IsTrue(refuse.Blocking);
    }

    [TestMethod]
    public void ScansSideBySideNeverListEachOthersFdinfoReaders()
    {
        // The agent's warm-up and a tool's `fds` can scan at once; each reads fdinfo through an fd of its own.
        string fdinfo = $"/proc/{Environment.ProcessId}/fdinfo/";
        var seen = new System.Collections.Concurrent.ConcurrentBag<string>();
        Parallel.For(0, 2, _ =>
        {
            for (int scan = 0; scan < 150; scan++)
            {
                foreach (FdEntry entry in FdScanner.Scan().Where(entry => entry.Target.StartsWith(fdinfo, StringComparison.Ordinal)))
                {
                    seen.Add(entry.Target);
                }
            }
        });
        CollectionAssert.AreEqual(Array.Empty<string>(), seen.ToArray(), "another scan's fdinfo reader was judged as the process's fd");
    }

    [TestMethod]
    public void AConnectionThisProcessAcceptedIsClosedAndAnOutboundOneIsNeverClosedUnderItsOwner()
    {
        FdEntry listener = Tcp(7, "127.0.0.1", 5000, null, null, TcpState.Listen);
        FdEntry inbound = Tcp(8, "127.0.0.1", 5000, "127.0.0.1", 41000, TcpState.Established);
        FdEntry outbound = Tcp(9, "127.0.0.1", 41001, "10.0.0.5", 5432, TcpState.Established);
        FdEntry[] entries = [listener, inbound, outbound];

        IReadOnlyList<FdAssessment> auto = FdClassifier.Assess(entries, Defaults, PolicySet.None);
        IReadOnlyList<FdAssessment> closeAll = FdClassifier.Assess(entries, Defaults with { ClosesOutbound = true }, PolicySet.None);
        IReadOnlyList<FdAssessment> preserve = FdClassifier.Assess(entries, Defaults with { ClosesInbound = false, PreservesConnections = true }, PolicySet.None);

        Assert.AreEqual(FdAutomaticAction.KeepListening, auto[0].Action);
        Assert.AreEqual((false, FdAutomaticAction.CloseInbound), (auto[1].Blocking, auto[1].Action));
        Assert.IsTrue(auto[2].Blocking);
        StringAssert.Contains(auto[2].Reason, "an outbound connection to 10.0.0.5:5432");
        Assert.IsFalse(closeAll[2].Blocking, "tcp-close=true: the operator chose to restore it closed");
        Assert.IsFalse(preserve[1].Blocking || preserve[2].Blocking, "tcp-established keeps both");
        Assert.AreEqual(FdAutomaticAction.None, preserve[1].Action);
    }

    [TestMethod]
    public void TheAutomaticFlagsArePassedOnlyWhereTheChecksLetEverythingTheyConcernThrough()
    {
        var settings = new CriuSettings();

        CriuSettings serving = settings.ForDump(new FdSummary(HoldsFileLocks: true, ServesTcp: true, HoldsOutboundConnections: false));
        CriuSettings withOutbound = settings.ForDump(new FdSummary(HoldsFileLocks: false, ServesTcp: true, HoldsOutboundConnections: true));
        CriuSettings unknown = settings.ForDump(FdSummary.Unknown);
        CriuSettings forced = (settings with { FileLocksChoice = OptionSwitch.On, TcpCloseChoice = OptionSwitch.On }).ForDump(FdSummary.Unknown);

        Assert.AreEqual((true, true), (serving.FileLocks, serving.TcpClose));
        Assert.AreEqual((false, false), (withOutbound.FileLocks, withOutbound.TcpClose), "an outbound connection: CRIU must refuse it rather than close it");
        Assert.AreEqual((false, false), (unknown.FileLocks, unknown.TcpClose), "nothing unexamined is taken along or closed");
        Assert.AreEqual((true, true), (forced.FileLocks, forced.TcpClose));
        CollectionAssert.IsSubsetOf(new[] { "--file-locks", "--tcp-close", "--skip-in-flight" },
            CriuCommandLine.Dump(42, "/img", serving with { SkipInFlight = true }, keepRunning: false).ToArray());
    }

    [TestMethod]
    public void APolicyOverridesTheVerdictAndTheFirstFileInPrecedenceWins()
    {
        FdEntry file = File(readOnly: false, new FileLock(FileLockKind.Flock, Exclusive: false));
        ResourcePolicies operatorRules = ResourcePolicies.Parse("type: file\npath: /var/log/*.log\naction: reopen\n", "/ops.yaml");
        ResourcePolicies appRules = ResourcePolicies.Parse("type: file\naction: error\n", "/app.yaml");

        FdAssessment assessment = FdClassifier.Assess([file], Defaults, new PolicySet([operatorRules, appRules], []))[0];

        Assert.IsFalse(assessment.Blocking);
        Assert.AreEqual("/ops.yaml", assessment.Rule!.Source);
        StringAssert.EndsWith(assessment.Reason, "; policy rule 1 of /ops.yaml (line 1): reopen");
    }

    private static FdAssessment Judge(FdEntry entry, ImageCapabilities? capabilities = null) =>
        FdClassifier.Assess([entry], capabilities ?? Defaults, PolicySet.None)[0];

    private static FdEntry File(bool readOnly, FileLock fileLock) => new()
    {
        Fd = 900,
        Kind = FdKind.File,
        Target = "/var/log/app.log",
        Flags = (readOnly ? 0 : 1) | Interop.Libc.O_CLOEXEC,
        Position = 0,
        Inode = 1,
        LinkCount = 1,
        Locks = [fileLock],
    };

    private static FdEntry Tcp(int fd, string localAddress, int localPort, string? remoteAddress, int? remotePort, TcpState state) => new()
    {
        Fd = 900 + fd,
        Kind = FdKind.TcpSocket,
        Target = $"socket:[{fd}]",
        Flags = Interop.Libc.O_RDWR | Interop.Libc.O_CLOEXEC,
        Position = 0,
        Inode = (ulong)fd,
        Socket = new SocketEndpoint
        {
            Family = "inet",
            Type = "stream",
            LocalAddress = localAddress,
            LocalPort = localPort,
            RemoteAddress = remoteAddress,
            RemotePort = remotePort,
            Listening = state == TcpState.Listen,
            TcpState = state,
        },
    };
}
