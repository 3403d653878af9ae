using System.Globalization;
using System.Text.RegularExpressions;
using Crac.EndToEnd.Tests.Infrastructure;

namespace Crac.EndToEnd.Tests;

/// <summary>
/// Applications exactly as `dotnet new` makes them, started only with `dotnet crac run` and
/// checkpointed with the CRIU engine and nothing but an image directory: what a new user does.
/// </summary>
[TestClass]
public sealed class TemplateAppTests
{
    [ClassInitialize]
    public static void RequireCriu(TestContext context) =>
        Assert.IsTrue(File.Exists(Paths.Criu), $"CRIU is not installed at {Paths.Criu}: run .ci/install-criu.sh (the CI does).");

    [TestMethod]
    public async Task AnUnmodifiedWebAppUnderKeepAliveLoadDrainsThroughACheckpointAndNoAcceptedRequestFails()
    {
        TemplateApp web = await TemplateApp.GetAsync("web");
        int port = Loopback.FreePort();
        using CracRun app = await CracRun.StartAsync(web.Assembly, ["--urls", $"http://127.0.0.1:{port}"], "Now listening on");
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        Assert.AreEqual("Hello World!", await client.GetStringAsync($"http://127.0.0.1:{port}/"));
        string image = Path.Combine(app.Directory, "image");

        // Keep-alive load from before the checkpoint until after the restore.
        Wrk wrk = Wrk.Start(new Uri($"http://127.0.0.1:{port}/"), connections: 4, duration: TimeSpan.FromSeconds(12));
        await ProcessRunner.WaitUntilAsync(() => Loopback.EstablishedTo(port) >= 4, TimeSpan.FromSeconds(10), "wrk's 4 connections");
        await Task.Delay(TimeSpan.FromSeconds(1));
        ToolResult checkpoint = await app.CheckpointAsync(image);
        Assert.AreEqual(0, checkpoint.ExitCode, checkpoint + app.Output);
        await app.WaitForImagedAsync();
        ToolResult restore = await app.RestoreAsync(image);
        Assert.AreEqual(0, restore.ExitCode, restore + app.Output);

        // The restored app accepts on the same endpoint, and wrk's reconnects reach it.
        Assert.AreEqual("Hello World!", await client.GetStringAsync($"http://127.0.0.1:{port}/"));
        await ProcessRunner.WaitUntilAsync(() => Loopback.EstablishedTo(port) >= 1, TimeSpan.FromSeconds(10), "wrk to reconnect to the restored app");
        WrkResult load = await wrk.WaitAsync();

        // What the drain did is in the report: every request it let finish and every connection it closed.
        Match drained = Regex.Match(checkpoint.Stdout, @"kestrel: stopped accepting on 127\.0\.0\.1:" + port + @"; drained (\d+) request\(s\).*; closed (\d+) connection\(s\)");
        Assert.IsTrue(drained.Success, "the report names the drain:\n" + checkpoint.Stdout);
        Assert.IsTrue(int.Parse(drained.Groups[1].Value, CultureInfo.InvariantCulture) >= 1, "under load at least one request was drained:\n" + checkpoint.Stdout);
        Assert.IsTrue(int.Parse(drained.Groups[2].Value, CultureInfo.InvariantCulture) >= 4, "wrk's connections were closed by the drain:\n" + checkpoint.Stdout);

        // No request the server accepted was reset, cut off, timed out or answered with an error.
        // (Connects refused while the app was down count as wrk connect or write errors: those
        // requests were never sent.) The paused listener still completes handshakes in the kernel:
        // a connection wrk opens in the dump's last moments and writes a request on sits in the
        // backlog, never accepted by Kestrel, and is reset when the original exits: at most one
        // per wrk connection. Any more would be requests the server accepted.
        Assert.IsTrue(load.ReadErrors <= 4, "read errors (resets or connections closed before a response) beyond the backlog's, one per connection:\n" + load);
        Assert.AreEqual(0, load.Timeouts, "timeouts:\n" + load);
        Assert.AreEqual(0, load.Non2xx, "error statuses:\n" + load);
        Assert.IsTrue(load.Requests > 1000, "wrk drove real load:\n" + load);
    }

    [TestMethod]
    public async Task AnUnmodifiedWorkerIsCheckpointedWithDefaultsAndItsDelayLoopGoesOnWithoutABurst()
    {
        TemplateApp worker = await TemplateApp.GetAsync("worker");
        const string tick = "Worker running at:";
        using CracRun app = await CracRun.StartAsync(worker.Assembly, [], tick);
        await app.WaitForOutputAsync(tick, count: 3);
        string image = Path.Combine(app.Directory, "image");

        ToolResult checkpoint = await app.CheckpointAsync(image);
        Assert.AreEqual(0, checkpoint.ExitCode, checkpoint + app.Output);
        await app.WaitForImagedAsync();
        int ticksBefore = CracRun.Occurrences(app.Output, tick);

        // Down for 4 s: a loop that caught up would tick 4 times at once after the restore.
        await Task.Delay(TimeSpan.FromSeconds(4));
        ToolResult restore = await app.RestoreAsync(image);
        Assert.AreEqual(0, restore.ExitCode, restore + app.Output);
        StringAssert.Contains(restore.Stdout, "generation 1.");
        await Task.Delay(TimeSpan.FromSeconds(2.5));

        // Task.Delay(1000) runs on the monotonic clock, which CRIU's time namespace carries over
        // the downtime: one tick a second since the restore began (the restore's own run
        // included), never the four it was down for on top.
        int ticksAfter = CracRun.Occurrences(app.Output, tick) - ticksBefore;
        int allowed = (int)Math.Ceiling(restore.Elapsed.TotalSeconds + 2.5) + 1;
        Assert.IsTrue(ticksAfter >= 1 && ticksAfter <= allowed, $"{ticksAfter} ticks in the {restore.Elapsed.TotalSeconds + 2.5:0.#} s since the restore began (at most {allowed} without a burst):\n{app.Output}");
        Assert.IsTrue(app.IsAlive, "the restored worker runs on");
    }
}
