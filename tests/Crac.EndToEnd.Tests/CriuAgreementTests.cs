using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Crac.EndToEnd.Tests.Infrastructure;
using Crac.Interop;
using Crac.Engines.Criu;

namespace Crac.EndToEnd.Tests;

/// <summary>
/// The verdict on every kind of descriptor agrees with CRIU, both ways. An app holds one kind
/// (tests/apps/FdZoo); the dry run's verdict is compared with what CRIU really does with it:
/// a kind called ready is checkpointed and restored through the tool; a kind called blocking is
/// dumped by CRIU directly, with exactly the flags the engine would pass (the command `fds`
/// reports), and CRIU must refuse it, fail to restore it, or restore something that leads nowhere.
/// </summary>
[TestClass]
public sealed class CriuAgreementTests
{
    /// <summary>What CRIU does with a kind the verdict calls blocking.</summary>
    public enum CriuRefusal
    {
        None,
        DumpFails,
        RestoreFails,

        /// <summary>Dump and restore succeed, but the restored descriptor's other end is held by nobody.</summary>
        LeadsNowhere,
    }

    /// <summary>What the test provides around the app.</summary>
    public enum Peer
    {
        None,
        TcpServer,
        UnixServer,
        UnixDatagramServer,
        TcpClientsNotAccepted,
        TcpClients,
        UnixClients,
        Port,
        MiscDevice,
    }

    public static IEnumerable<object[]> Kinds =>
    [
        ["file-read", Peer.None, CriuRefusal.None],
        ["file-write", Peer.None, CriuRefusal.DumpFails],
        ["file-exclusive", Peer.None, CriuRefusal.DumpFails],
        ["file-write-unlocked", Peer.None, CriuRefusal.None],
        ["posix-write-lock", Peer.None, CriuRefusal.DumpFails],
        ["posix-read-lock", Peer.None, CriuRefusal.None],
        ["ofd-write-lock", Peer.None, CriuRefusal.DumpFails],
        ["deleted-small", Peer.None, CriuRefusal.None],
        ["deleted-large", Peer.None, CriuRefusal.DumpFails],
        ["directory", Peer.None, CriuRefusal.None],
        ["memfd", Peer.None, CriuRefusal.None],
        ["eventfd", Peer.None, CriuRefusal.None],
        ["timerfd", Peer.None, CriuRefusal.None],
        ["signalfd", Peer.None, CriuRefusal.None],
        ["epoll", Peer.None, CriuRefusal.None],
        ["inotify", Peer.None, CriuRefusal.None],
        ["fanotify", Peer.None, CriuRefusal.None],
        ["pidfd", Peer.None, CriuRefusal.None],
        ["userfaultfd", Peer.None, CriuRefusal.DumpFails],
        ["netlink", Peer.None, CriuRefusal.None],
        ["packet", Peer.None, CriuRefusal.None],
        ["tcp-listen", Peer.TcpClientsNotAccepted, CriuRefusal.None],
        ["tcp-accept", Peer.TcpClients, CriuRefusal.None],
        ["tcp-outbound", Peer.TcpServer, CriuRefusal.DumpFails],
        ["tcp-outbound-halfclosed", Peer.TcpServer, CriuRefusal.DumpFails],
        ["tcp-unconnected", Peer.None, CriuRefusal.None],
        ["udp", Peer.Port, CriuRefusal.None],
        ["udp-connected", Peer.Port, CriuRefusal.None],
        ["unix-listen", Peer.None, CriuRefusal.None],
        ["unix-abstract", Peer.None, CriuRefusal.None],
        ["unix-pair", Peer.None, CriuRefusal.None],
        ["unix-dgram-pair", Peer.None, CriuRefusal.None],
        ["unix-accept", Peer.UnixClients, CriuRefusal.None],
        ["unix-connect", Peer.UnixServer, CriuRefusal.DumpFails],
        ["unix-dgram-connect", Peer.UnixDatagramServer, CriuRefusal.DumpFails],
        ["pipe-to-child", Peer.None, CriuRefusal.None],
        ["pipe-to-outside", Peer.None, CriuRefusal.LeadsNowhere],
        ["fifo", Peer.None, CriuRefusal.None],
        ["pty", Peer.None, CriuRefusal.None],
        ["device", Peer.MiscDevice, CriuRefusal.DumpFails],
    ];

    [ClassInitialize]
    public static void RequireCriu(TestContext context) =>
        Assert.IsTrue(File.Exists(Paths.Criu), $"CRIU is not installed at {Paths.Criu}: run .ci/install-criu.sh (the CI does).");

    [TestMethod]
    [DynamicData(nameof(Kinds))]
    public async Task TheVerdictOnADescriptorKindIsWhatCriuDoesWithIt(string kind, Peer peer, CriuRefusal expected)
    {
        await using var around = new Surroundings(peer);
        using SampleProcess app = await SampleProcess.StartZooAsync(kind, around.Argument, new Dictionary<string, string?> { ["CRAC_ENGINE"] = "criu" });
        await around.ConnectAsync(app.Pid);
        string image = Path.Combine(app.Directory, "image");

        ToolResult fds = await ToolRun.RunAsync("fds", app.Pid.ToString(), "--format", "json");
        ToolResult dryRun = await ToolRun.RunAsync("checkpoint", app.Pid.ToString(), "--engine", "criu", "--image-dir", image, "--dry-run");

        Assert.AreEqual(0, fds.ExitCode, fds.ToString());
        string verdicts = $"{kind}: the verdict said\n{dryRun}\n{fds.Stdout}";
        if (expected == CriuRefusal.None)
        {
            Assert.AreEqual(0, dryRun.ExitCode, verdicts);
            ToolResult checkpoint = await ToolRun.RunAsync("checkpoint", app.Pid.ToString(), "--engine", "criu", "--image-dir", image);
            Assert.AreEqual(0, checkpoint.ExitCode, $"called ready, but the checkpoint failed:\n{checkpoint}\n{verdicts}");
            await app.WaitForExitAsync();
            ToolResult restore = await ToolRun.RunAsync("restore", image);
            Assert.AreEqual(0, restore.ExitCode, $"called ready, but the restore failed:\n{restore}\n{verdicts}");
            Assert.IsTrue(app.IsAlive, kind);
            await around.AssertAfterRestoreAsync(app.Pid);
            return;
        }

        Assert.AreEqual(2, dryRun.ExitCode, verdicts);
        StringAssert.Contains(dryRun.Stderr, "Fix: ", verdicts);
        CriuRefusal actual = await DumpDirectlyAsync(app, image, EngineCommand(fds.Stdout));
        Assert.AreEqual(expected, actual, $"called blocking, and CRIU, given the engine's own flags, {actual}\n{verdicts}");
    }

    /// <summary>The command the engine would run, as `fds` reports it: its flags are the ones under test.</summary>
    private static IReadOnlyList<string> EngineCommand(string fdsJson)
    {
        using JsonDocument document = JsonDocument.Parse(fdsJson);
        return [.. document.RootElement.GetProperty("engineCommand").EnumerateArray().Skip(1).Select(a => a.GetString()!)];
    }

    /// <summary>Dumps the app with CRIU itself (the tool would not: its verdict blocks), then restores it.</summary>
    private static async Task<CriuRefusal> DumpDirectlyAsync(SampleProcess app, string image, IReadOnlyList<string> dumpCommand)
    {
        // CRIU refuses any process with a diagnostics client still connected ("External socket is used"):
        // the dry run's session must be gone, or that, not the descriptor, would be the refusal measured.
        Assert.IsTrue(DiagnosticsSocket.WaitForSessionsToClose(app.Pid, TimeSpan.FromSeconds(10)), "the dry run's diagnostics session to close");
        Directory.CreateDirectory(image);
        var arguments = dumpCommand.ToList();
        arguments[arguments.IndexOf("-D") + 1] = image;
        CriuBinary.Run(Paths.Criu, arguments, TimeSpan.FromSeconds(60), out int dumped);
        if (dumped != 0)
        {
            return CriuRefusal.DumpFails;
        }

        await app.WaitForExitAsync();
        var settings = new CriuSettings
        {
            ShellJob = arguments.Contains("--shell-job"),
            FileLocks = arguments.Contains("--file-locks"),
            TcpClose = arguments.Contains("--tcp-close"),
        };
        string pidFile = Path.Combine(image, "restored.pid");
        CriuBinary.Run(Paths.Criu, CriuCommandLine.Restore(image, settings, detached: true, pidFile, []), TimeSpan.FromSeconds(60), out int restored, new StdioFiles("/dev/null", "/dev/null", "/dev/null"));
        if (restored != 0 || !app.IsAlive)
        {
            return CriuRefusal.RestoreFails;
        }

        return PipesLeadNowhere(app.Pid) ? CriuRefusal.LeadsNowhere : CriuRefusal.None;
    }

    /// <summary>Whether a pipe the restored process holds has its other end in no process at all.</summary>
    private static bool PipesLeadNowhere(int pid)
    {
        string[] pipes = [.. Directory.GetFiles($"/proc/{pid}/fd").Select(fd => new FileInfo(fd).LinkTarget).OfType<string>().Where(t => t.StartsWith("pipe:"))];
        var elsewhere = new HashSet<string>();
        foreach (string process in Directory.GetDirectories("/proc").Where(d => int.TryParse(Path.GetFileName(d), out int other) && other != pid))
        {
            try
            {
                foreach (string fd in Directory.GetFiles(Path.Combine(process, "fd")))
                {
                    if (new FileInfo(fd).LinkTarget is { } target && target.StartsWith("pipe:"))
                    {
                        elsewhere.Add(target);
                    }
                }
            }
            catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
            {
            }
        }

        // The runtime's own pipes have both ends in the process: count ends, not targets.
        return pipes.GroupBy(p => p).Any(ends => ends.Count() == 1 && !elsewhere.Contains(ends.Key));
    }

    /// <summary>The peers a kind needs: a server to connect to, clients that connect to the app, a device.</summary>
    private sealed class Surroundings : IAsyncDisposable
    {
        private readonly Peer _peer;
        private readonly List<IDisposable> _owned = [];
        private readonly List<Socket> _clients = [];
        private readonly string _directory = Directory.CreateTempSubdirectory("crac-agreement-").FullName;

        public Surroundings(Peer peer)
        {
            _peer = peer;
            Argument = peer switch
            {
                Peer.TcpServer => StartTcpServer(),
                Peer.UnixServer => StartUnixServer(SocketType.Stream),
                Peer.UnixDatagramServer => StartUnixServer(SocketType.Dgram),
                Peer.TcpClientsNotAccepted or Peer.TcpClients or Peer.Port => FreePort().ToString(),
                Peer.UnixClients => Path.Combine(_directory, "app.sock"),
                Peer.MiscDevice => new[] { "/dev/fuse", "/dev/kvm", "/dev/net/tun" }.FirstOrDefault(File.Exists)
                    ?? throw new InvalidOperationException("No misc device (/dev/fuse, /dev/kvm, /dev/net/tun) to hold open on this machine."),
                Peer.None => string.Empty,
            };
        }

        /// <summary>The app's argument: a port, a path or a device.</summary>
        public string Argument { get; }

        /// <summary>Connects the clients the app must hold (accepted, or left in its listener's backlog).</summary>
        public async Task ConnectAsync(int pid)
        {
            if (_peer is Peer.TcpClientsNotAccepted or Peer.TcpClients)
            {
                for (int i = 0; i < 3; i++)
                {
                    var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                    await client.ConnectAsync(IPAddress.Loopback, int.Parse(Argument));
                    _clients.Add(client);
                }
            }
            else if (_peer == Peer.UnixClients)
            {
                var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                await client.ConnectAsync(new UnixDomainSocketEndPoint(Argument));
                _clients.Add(client);
            }
            else
            {
                return;
            }

            if (_peer != Peer.TcpClientsNotAccepted)
            {
                // Wait until the app accepted them: its fds show one socket per client, and its listener.
                await ProcessRunner.WaitUntilAsync(
                    () => CountSockets(pid) >= _clients.Count + 1,
                    TimeSpan.FromSeconds(10), $"process {pid} to accept {_clients.Count} clients");
            }
        }

        public async Task AssertAfterRestoreAsync(int pid)
        {
            foreach (Socket client in _clients)
            {
                // The app's end was shut down (or, in a listener's backlog, dropped): a close, never a hang.
                var buffer = new byte[1];
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                try
                {
                    int read = await client.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
                    Assert.AreEqual(0, read, "the client sees the end of the connection");
                }
                catch (SocketException exception) when (exception.SocketErrorCode == SocketError.ConnectionReset)
                {
                    Assert.AreEqual(Peer.TcpClientsNotAccepted, _peer, "only a connection the app never accepted may be reset");
                }
            }

            if (_peer is Peer.TcpClientsNotAccepted or Peer.TcpClients)
            {
                using var again = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                await again.ConnectAsync(IPAddress.Loopback, int.Parse(Argument));
                Assert.IsTrue(again.Connected, $"the restored process {pid} listens again");
            }
        }

        public ValueTask DisposeAsync()
        {
            foreach (Socket client in _clients)
            {
                client.Dispose();
            }

            foreach (IDisposable owned in _owned)
            {
                owned.Dispose();
            }

            // pipe-to-outside leaves a detached sleep behind; nothing else of ours does.
            Process.Start("pkill", ["-f", "^sleep 3600$"])?.WaitForExit(5000);
            Directory.Delete(_directory, recursive: true);
            return ValueTask.CompletedTask;
        }

        private string StartTcpServer()
        {
            var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            _owned.Add(listener.Server);
            _ = Task.Run(async () =>
            {
                while (true)
                {
                    _owned.Add(await listener.AcceptSocketAsync());
                }
            });
            return ((IPEndPoint)listener.LocalEndpoint).Port.ToString();
        }

        private string StartUnixServer(SocketType type)
        {
            string path = Path.Combine(_directory, "peer.sock");
            var server = new Socket(AddressFamily.Unix, type, ProtocolType.Unspecified);
            server.Bind(new UnixDomainSocketEndPoint(path));
            _owned.Add(server);
            if (type == SocketType.Stream)
            {
                server.Listen(4);
                _ = Task.Run(async () =>
                {
                    while (true)
                    {
                        _owned.Add(await server.AcceptAsync());
                    }
                });
            }

            return path;
        }

        private static int FreePort()
        {
            using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            return ((IPEndPoint)probe.LocalEndPoint!).Port;
        }

        private static int CountSockets(int pid)
        {
            try
            {
                // The app's own sockets of the kind: every socket but the diagnostics listener.
                return Directory.GetFiles($"/proc/{pid}/fd").Count(fd => new FileInfo(fd).LinkTarget?.StartsWith("socket:") == true) - 1;
            }
            catch (IOException)
            {
                return 0;
            }
        }
    }
}
