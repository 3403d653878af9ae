using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Crac.Coordination;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Crac.Hosting.Tests;

/// <summary>Kestrel on loopback in this process, checkpointed with the simulate engine: the drain, step by step.</summary>
[TestClass]
public sealed class KestrelDrainTests
{
    [TestMethod]
    public async Task ARequestInFlightFinishesWithConnectionCloseWhileNewConnectionsAreRefusedAndTheSamePortAcceptsAfterTheRestore()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using WebApplication app = await StartAsync(endpoints =>
        {
            endpoints.MapGet("/slow", async () =>
            {
                started.TrySetResult();
                await release.Task;
                return "slow done";
            });
        });
        int port = Port(app);
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };

        Task<HttpResponseMessage> slow = client.GetAsync("/slow");
        await started.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Task<CheckpointReport> checkpoint = Checkpoints.SimulateAsync();
        await ProcessWaits.UntilAsync(() => !Accepts(port), "the listener to close");
        await Task.Delay(200);
        Assert.IsFalse(checkpoint.IsCompleted, "the checkpoint waits for the request in flight");
        release.SetResult();
        HttpResponseMessage response = await slow;
        CheckpointReport report = await checkpoint;

        Assert.AreEqual("slow done", await response.Content.ReadAsStringAsync());
        Assert.IsTrue(response.Headers.ConnectionClose == true, "the drained request's response says Connection: close");
        Assert.AreEqual(CheckpointOutcome.Restored, report.Outcome, Checkpoints.Describe(report));
        string drain = report.Actions.Single(a => a.Source == "kestrel").Description;
        // The refused connects of the test's own probe may count as closed by the client: the count is not the point.
        StringAssert.Matches(drain, new System.Text.RegularExpressions.Regex(
            $@"stopped accepting on 127\.0\.0\.1:{port}; drained 1 request\(s\) \(1 in flight, 0 arriving on open connections\); closed \d+ connection\(s\) \(1 after a response with Connection: close"));
        Assert.IsTrue(Accepts(port), "the same port accepts after the restore");
        release = new TaskCompletionSource();
        release.SetResult();
        Assert.AreEqual("slow done", await client.GetStringAsync("/slow"));
    }

    [TestMethod]
    public async Task ANamedPortStaysHeldWhileKestrelDoesNotListenSoNothingCanTakeItBeforeTheRestore()
    {
        int port = PortBelowTheEphemeralRange();
        await using WebApplication app = await StartAsync(endpoints => endpoints.MapGet("/", () => "hello"), port);
        var probe = new PortProbe(port);
        Core.GlobalContext.Register(probe); // told after Kestrel's drain, before the (simulated) dump

        CheckpointReport report = await Checkpoints.SimulateAsync();

        Assert.AreEqual(CheckpointOutcome.Restored, report.Outcome, Checkpoints.Describe(report));
        Assert.IsFalse(probe.AcceptedDuringCheckpoint, "a client is refused while Kestrel does not listen");
        // A socket without SO_REUSEADDR (what connect() takes a client's source port from) cannot
        // have the port: a client cannot connect to itself on it, nor can anything else bind it.
        Assert.AreEqual(98 /* EADDRINUSE */, probe.PlainBindErrorDuringCheckpoint, "the port stays held while Kestrel does not listen");
        Assert.IsNull(probe.ConnectErrorDuringRestore, "a client connecting while the application's resources are restored waits in the backlog, not refused");
        Assert.AreEqual(0, probe.BytesAnsweredDuringRestore, "nothing is served before the whole restore is done");
        using (Socket early = probe.EarlyClient!)
        {
            var buffer = new byte[4096];
            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            int read = await early.ReceiveAsync(buffer, SocketFlags.None, wait.Token);
            StringAssert.Contains(System.Text.Encoding.ASCII.GetString(buffer, 0, read), "hello", "the request sent during the restore is served after it");
        }

        using var client = new HttpClient();
        Assert.AreEqual("hello", await client.GetStringAsync($"http://127.0.0.1:{port}/"), "the same socket listens again after the restore");
        StringAssert.Contains(report.Actions.Single(a => a.Source == "kestrel").Description, $"stopped accepting on 127.0.0.1:{port};");
        GC.KeepAlive(probe);
    }

    [TestMethod]
    public async Task AnIdleKeepAliveConnectionIsClosedAfterItsGrace()
    {
        await using WebApplication app = await StartAsync(endpoints => endpoints.MapGet("/", () => "hello"));
        int port = Port(app);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, port);
        await socket.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray());
        var buffer = new byte[4096];
        int read = await socket.ReceiveAsync(buffer);
        StringAssert.Contains(System.Text.Encoding.ASCII.GetString(buffer, 0, read), "hello");

        CheckpointReport report = await Checkpoints.SimulateAsync();

        Assert.AreEqual(CheckpointOutcome.Restored, report.Outcome, Checkpoints.Describe(report));
        StringAssert.Contains(report.Actions.Single(a => a.Source == "kestrel").Description, "closed 1 connection(s) (0 after a response with Connection: close, 1 idle");
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        Assert.AreEqual(0, await socket.ReceiveAsync(buffer, SocketFlags.None, wait.Token), "the server closed the idle connection (end of stream, no reset)");
    }

    [TestMethod]
    public async Task AnHttp2ConnectionGetsGoAwayAndItsStreamFinishes()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using WebApplication app = await StartAsync(
            endpoints => endpoints.MapGet("/slow", async () =>
            {
                started.TrySetResult();
                await release.Task;
                return "h2 done";
            }),
            HttpProtocols.Http2);
        int port = Port(app);
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };

        Task<string> slow = client.GetStringAsync("/slow");
        await started.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Task<CheckpointReport> checkpoint = Checkpoints.SimulateAsync();
        await ProcessWaits.UntilAsync(() => !Accepts(port), "the listener to close");
        release.SetResult();
        CheckpointReport report = await checkpoint;

        Assert.AreEqual("h2 done", await slow);
        Assert.AreEqual(CheckpointOutcome.Restored, report.Outcome, Checkpoints.Describe(report));
        StringAssert.Contains(report.Actions.Single(a => a.Source == "kestrel").Description, "1 HTTP/2 with GOAWAY");
    }

    [TestMethod]
    [DataRow(false, DisplayName = "a port the system chose (the listener is bound again)")]
    [DataRow(true, DisplayName = "a named port (the kept socket listens again)")]
    public async Task ARequestThatOutlastsTheTimeoutFailsTheCheckpointAndTheServerGoesOn(bool namedPort)
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using WebApplication app = await StartAsync(endpoints =>
        {
            endpoints.MapGet("/stuck", async () =>
            {
                started.TrySetResult();
                await release.Task;
                return "finally";
            });
            endpoints.MapGet("/", () => "hello");
        }, namedPort ? PortBelowTheEphemeralRange() : 0);
        int port = Port(app);
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
        Task<string> stuck = client.GetStringAsync("/stuck");
        await started.Task.WaitAsync(TimeSpan.FromSeconds(10));

        CheckpointReport report = await Checkpoints.SimulateAsync(TimeSpan.FromSeconds(1));

        Assert.AreEqual(CheckpointOutcome.Failed, report.Outcome);
        StringAssert.Contains(report.Failure!.ToString(), "Kestrel could not drain in time: 1 connection(s) still open, 1 request(s) still in flight at the checkpoint timeout");
        using var fresh = new HttpClient();
        Assert.AreEqual("hello", await fresh.GetStringAsync($"http://127.0.0.1:{port}/"), "a failed checkpoint leaves the app serving");
        release.SetResult();
        Assert.AreEqual("finally", await stuck);
    }

    private static Task<WebApplication> StartAsync(Action<WebApplication> map, HttpProtocols protocols = HttpProtocols.Http1) =>
        StartAsync(map, port: 0, protocols);

    private static async Task<WebApplication> StartAsync(Action<WebApplication> map, int port, HttpProtocols protocols = HttpProtocols.Http1)
    {
        WebApplicationBuilder builder = WebApplication.CreateBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, port, listen => listen.Protocols = protocols));
        builder.Services.AddCrac();
        WebApplication app = builder.Build();
        map(app);
        await app.StartAsync();
        return app;
    }

    private static int Port(WebApplication app) =>
        new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single()).Port;

    private static bool Accepts(int port)
    {
        try
        {
            using var client = new TcpClient();
            client.Connect(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>A port no one listens on, below the range connect() takes source ports from (so no client can be given it meanwhile).</summary>
    private static int PortBelowTheEphemeralRange()
    {
        for (int attempt = 0; attempt < 100; attempt++)
        {
            int port = Random.Shared.Next(20000, 30000);
            if (PlainBind(port) == 0)
            {
                return port;
            }
        }

        throw new InvalidOperationException("no free port in 20000-30000 after 100 tries");
    }

    /// <summary>Binds a TCP socket without SO_REUSEADDR (which .NET sets on its own sockets) and closes it: 0, or the errno.</summary>
    private static int PlainBind(int port)
    {
        int fd = Libc.socket(2 /* AF_INET */, 1 /* SOCK_STREAM */, 0);
        Assert.IsTrue(fd >= 0, "socket()");
        try
        {
            var address = new Libc.SockAddrIn { Family = 2, PortNetworkOrder = (ushort)IPAddress.HostToNetworkOrder((short)port), AddressNetworkOrder = 0x0100007F };
            return Libc.bind(fd, ref address, 16) == 0 ? 0 : Marshal.GetLastPInvokeError();
        }
        finally
        {
            _ = Libc.close(fd);
        }
    }

    /// <summary>Looks at the port while the checkpoint runs, after Kestrel's drain.</summary>
    private sealed class PortProbe(int port) : IResource
    {
        public bool AcceptedDuringCheckpoint { get; private set; }

        public int PlainBindErrorDuringCheckpoint { get; private set; }

        public Task BeforeCheckpointAsync(Context context, CancellationToken cancellationToken)
        {
            AcceptedDuringCheckpoint = Accepts(port);
            PlainBindErrorDuringCheckpoint = PlainBind(port);
            return Task.CompletedTask;
        }

        public SocketError? ConnectErrorDuringRestore { get; private set; }

        public int BytesAnsweredDuringRestore { get; private set; }

        public Socket? EarlyClient { get; private set; }

        /// <summary>Told after the runtime's tier and before Kestrel accepts again: connects, sends a request, and sees whether it is answered.</summary>
        public async Task AfterRestoreAsync(Context context, CancellationToken cancellationToken)
        {
            var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await client.ConnectAsync(IPAddress.Loopback, port, cancellationToken);
            }
            catch (SocketException exception)
            {
                ConnectErrorDuringRestore = exception.SocketErrorCode;
                client.Dispose();
                return;
            }

            await client.SendAsync("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"u8.ToArray());
            using var wait = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
            try
            {
                BytesAnsweredDuringRestore = await client.ReceiveAsync(new byte[4096], SocketFlags.None, wait.Token);
            }
            catch (OperationCanceledException)
            {
                // Not answered while the restore runs: as it should be.
            }

            EarlyClient = client;
        }
    }

    private static class Libc
    {
        [StructLayout(LayoutKind.Sequential)]
        public struct SockAddrIn
        {
            public ushort Family;
            public ushort PortNetworkOrder;
            public uint AddressNetworkOrder;
            public ulong Zero;
        }

        [DllImport("libc", SetLastError = true)]
        public static extern int socket(int domain, int type, int protocol);

        [DllImport("libc", SetLastError = true)]
        public static extern int bind(int fd, ref SockAddrIn address, int length);

        [DllImport("libc")]
        public static extern int close(int fd);
    }
}
