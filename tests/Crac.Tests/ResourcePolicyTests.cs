using Crac.FileDescriptors;

namespace Crac.Tests;

[TestClass]
public sealed class ResourcePolicyTests
{
    private static FdEntry File(string path, int fd = 42) => new()
    {
        Fd = fd, Kind = FdKind.File, Target = path, Flags = Interop.Libc.O_WRONLY | Interop.Libc.O_CLOEXEC, Position = 0,
    };

    private static FdEntry Socket(SocketEndpoint endpoint) => new()
    {
        Fd = 43, Kind = endpoint.Family == "unix" ? FdKind.UnixSocket : FdKind.TcpSocket, Target = "socket:[1]", Flags = 2, Position = 0, Socket = endpoint,
    };

    [TestMethod]
    public void OnlyDescriptorsThatBlockInBothLooksFailACheckpoint()
    {
        FdAssessment Blocking(int fd, ulong inode) => new(File("/tmp/f") with { Fd = fd, Inode = inode }, true, "opened by the application");
        FdAssessment Harmless(int fd) => new(File("/dev/urandom") with { Fd = fd, Inode = 9 }, false, "the runtime's random source");
        var looks = new Queue<IReadOnlyList<FdAssessment>>([
            [Harmless(3), Blocking(50, 1), Blocking(51, 2), Blocking(52, 3)],
            [Harmless(3), Blocking(51, 2), Blocking(52, 4), Blocking(53, 5)],
        ]);

        IReadOnlyList<FdAssessment> settled = FdInspection.Settle(looks.Dequeue, TimeSpan.Zero);

        // 50 was closed meanwhile, 52 reopened as another file and 53 opened: caught mid-way, not leaks.
        CollectionAssert.AreEqual(new[] { 51 }, settled.Where(a => a.Blocking).Select(a => a.Entry.Fd).ToArray());
        Assert.IsTrue(settled.Any(a => a.Entry.Fd == 3 && !a.Blocking));
        Assert.IsEmpty(looks);

        var quiet = new Queue<IReadOnlyList<FdAssessment>>([[Harmless(3)], [Blocking(60, 6)]]);
        Assert.HasCount(1, FdInspection.Settle(quiet.Dequeue, TimeSpan.Zero));
        Assert.HasCount(1, quiet, "nothing blocked, so no second look");
    }

    [TestMethod]
    public void RulesAreSeparatedByDashesAndTheFirstMatchingRuleWins()
    {
        ResourcePolicies policies = ResourcePolicies.Parse(
            """
            # logs are reopened
            type: FILE
            path: **/*.log
            action: reopen
            ---
            type: file
            path: /var/data/*
            action: close
            warn: false
            ---
            type: file
            action: ignore
            """,
            "test.yaml");

        Assert.HasCount(3, policies.Rules);
        Assert.AreEqual(PolicyAction.Reopen, policies.Match(File("/srv/app/logs/app.log"))!.Action);
        Assert.AreEqual(2, policies.Match(File("/var/data/x.bin"))!.Index);
        Assert.IsFalse(policies.Match(File("/var/data/x.bin"))!.Warn);
        Assert.AreEqual(PolicyAction.Ignore, policies.Match(File("/var/data/deeper/x.bin"))!.Action, "* stays within one directory");
        Assert.AreEqual(3, policies.Match(File("/etc/hosts"))!.Index);
        Assert.AreEqual(6, policies.Rules[1].Line);
    }

    [TestMethod]
    public void SocketsMatchByFamilyAddressPortPathAndListening()
    {
        ResourcePolicies policies = ResourcePolicies.Parse(
            """
            type: socket
            family: ipv4
            localPort: 8080
            listening: true
            action: ignore
            ---
            type: socket
            remoteAddress: 10.0.0.5
            remotePort: '*'
            action: close
            ---
            type: socket
            family: unix
            localPath: /run/app/*.sock
            action: ignore
            """,
            "test.yaml");

        var listener = new SocketEndpoint { Family = "inet", Type = "stream", LocalAddress = "0.0.0.0", LocalPort = 8080, Listening = true };
        var client = new SocketEndpoint { Family = "inet6", Type = "stream", LocalAddress = "::1", LocalPort = 5000, RemoteAddress = "10.0.0.5", RemotePort = 443 };
        var unix = new SocketEndpoint { Family = "unix", Type = "stream", LocalPath = "/run/app/a.sock", Listening = true };
        var other = new SocketEndpoint { Family = "inet", Type = "stream", LocalAddress = "0.0.0.0", LocalPort = 9090, Listening = true };

        Assert.AreEqual(1, policies.Match(Socket(listener))?.Index);
        Assert.AreEqual(2, policies.Match(Socket(client))?.Index);
        Assert.AreEqual(3, policies.Match(Socket(unix))?.Index);
        Assert.IsNull(policies.Match(Socket(other)));
    }

    [TestMethod]
    [DataRow("type: file\npath: /x\n", 1, "this rule has no 'action'")]
    [DataRow("action: close\n", 1, "this rule has no 'type'")]
    [DataRow("type: file\naction: close\n---\ntype: door\naction: close\n", 4, "unknown type 'door'")]
    [DataRow("type: file\naction: shred\n", 2, "unknown action 'shred'")]
    [DataRow("type: pipe\naction: reopen\n", 2, "action reopen is only for files")]
    [DataRow("type: file\npaht: /x\naction: close\n", 2, "unknown key 'paht'")]
    [DataRow("type: socket\nlocalPort: 99999\naction: ignore\n", 2, "bad localPort '99999'")]
    [DataRow("type: file\npath: /x\naction: close\npath: /y\n", 4, "'path' is given twice in one rule")]
    [DataRow("type: pipe\npath: /x\naction: close\n", 2, "'path' does not apply to type pipe")]
    [DataRow("type: file\npath: /x/[ab\naction: close\n", 2, "bad path '/x/[ab'")]
    [DataRow("just some text\n", 1, "expected 'key: value'")]
    public void AMalformedFileIsRefusedWithTheLineItGoesWrongOn(string text, int line, string problem)
    {
        PolicyFileException error = Assert.ThrowsExactly<PolicyFileException>(() => ResourcePolicies.Parse(text, "/etc/app/policies.yaml"));

        StringAssert.StartsWith(error.Message, $"Resource policies file /etc/app/policies.yaml, line {line}: ");
        StringAssert.Contains(error.Message, problem);
    }

    [TestMethod]
    [DataRow("**/*.log", "/a/b/c.log", true)]
    [DataRow("/a/*.log", "/a/b/c.log", false)]
    [DataRow("/a/?.log", "/a/b.log", true)]
    [DataRow("/a/{x,y}.txt", "/a/y.txt", true)]
    [DataRow("/a/[!x]z", "/a/yz", true)]
    [DataRow("/a/[!x]z", "/a/xz", false)]
    public void GlobsMatchAsJavasPathMatcherDoes(string pattern, string path, bool matches) =>
        Assert.AreEqual(matches, Glob.ToRegex(pattern).IsMatch(path));
}
