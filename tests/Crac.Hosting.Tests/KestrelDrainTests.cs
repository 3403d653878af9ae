using System.Net;
using System.Net.Sockets;
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
    public async Task ARequestThatOutlastsTheTimeoutFailsTheCheckpointAndTheServerGoesOn()
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
        });
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

    private static async Task<WebApplication> StartAsync(Action<WebApplication> map, HttpProtocols protocols = HttpProtocols.Http1)
    {
        WebApplicationBuilder builder = WebApplication.CreateBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = protocols));
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
}
