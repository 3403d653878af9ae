using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Crac.EndToEnd.Tests.Infrastructure;

namespace Crac.EndToEnd.Tests;

/// <summary>
/// The hosting sample (tests/apps/HostingSample: AddCrac, Npgsql, StackExchange.Redis, an outbound
/// HttpClient, a PeriodicTimer) against a real PostgreSQL and a real redis-server, through real
/// CRIU checkpoints with the default options.
/// </summary>
[TestClass]
public sealed class HostingSampleTests
{
    private static string Sample => Paths.Output("HostingSample", "HostingSample.dll");

    [ClassInitialize]
    public static void RequireCriu(TestContext context) =>
        Assert.IsTrue(File.Exists(Paths.Criu), $"CRIU is not installed at {Paths.Criu}: run .ci/install-criu.sh (the CI does).");

    [TestMethod]
    public async Task StateIsKeptAndTheDatabaseRedisAndOutboundHttpWorkThroughTheSamePoolsAfterTheRestore()
    {
        await using PostgresServer postgres = await PostgresServer.StartAsync();
        await using RedisServer redis = await RedisServer.StartAsync();
        using OutboundServer outbound = OutboundServer.Start();
        int port = Loopback.FreePort();
        using CracRun app = await CracRun.StartAsync(
            Sample,
            ["--urls", $"http://127.0.0.1:{port}", "--postgres", postgres.ConnectionString, "--redis", redis.Configuration, "--outbound", outbound.Url],
            "Now listening on");
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromSeconds(15) };

        StringAssert.StartsWith(await client.GetStringAsync("/"), "visit 1 generation 0");
        Match db = Regex.Match(await client.GetStringAsync("/db"), @"backend (\d+) datasource (\d+)");
        Match cache = Regex.Match(await client.GetStringAsync("/redis"), @"incr (\d+) multiplexer (\d+)");
        StringAssert.StartsWith(await client.GetStringAsync("/outbound"), "outbound pong 1");
        Assert.IsTrue(db.Success && cache.Success, app.Output);
        Assert.AreEqual("1", cache.Groups[1].Value);
        string image = Path.Combine(app.Directory, "image");

        ToolResult checkpoint = await app.CheckpointAsync(image);

        Assert.AreEqual(0, checkpoint.ExitCode, checkpoint + app.Output);
        // Each pool was closed by the framework, before CRIU, and says so.
        StringAssert.Contains(checkpoint.Stdout, "kestrel: stopped accepting on 127.0.0.1:" + port);
        StringAssert.Contains(checkpoint.Stdout, "hosting: Npgsql: cleared 1 data source(s)");
        StringAssert.Matches(checkpoint.Stdout, new Regex(@"hosting: StackExchange\.Redis: closed [12] connection\(s\) \(127\.0\.0\.1:" + redis.Port));
        StringAssert.Matches(checkpoint.Stdout, new Regex(@"hosting: HttpClient: .*1 pooled connection\(s\) closed \(1 to 127\.0\.0\.1:" + outbound.Port));
        await app.WaitForImagedAsync();
        ToolResult restore = await app.RestoreAsync(image);
        Assert.AreEqual(0, restore.ExitCode, restore + app.Output);

        // The state is the image's; the pools are the same objects, with new connections under them.
        StringAssert.StartsWith(await client.GetStringAsync("/"), "visit 2 generation 1");
        Match dbAfter = Regex.Match(await client.GetStringAsync("/db"), @"backend (\d+) datasource (\d+)");
        Match cacheAfter = Regex.Match(await client.GetStringAsync("/redis"), @"incr (\d+) multiplexer (\d+)");
        StringAssert.StartsWith(await client.GetStringAsync("/outbound"), "outbound pong 2");
        Assert.AreEqual(db.Groups[2].Value, dbAfter.Groups[2].Value, "the same data source");
        Assert.AreNotEqual(db.Groups[1].Value, dbAfter.Groups[1].Value, "a new PostgreSQL backend: the old connection was closed, not carried into the image");
        Assert.AreEqual(cache.Groups[2].Value, cacheAfter.Groups[2].Value, "the same multiplexer");
        Assert.AreEqual("2", cacheAfter.Groups[1].Value, "Redis kept its data; the multiplexer reconnected to it");
        Assert.AreEqual(2, outbound.Connections, "the outbound client opened a new connection after the restore");
        // Healthy, and checkpointable again: the pools' new connections are theirs to close, as the next checkpoint will find.
        HttpResponseMessage health = await client.GetAsync("/health");
        Assert.AreEqual(HttpStatusCode.OK, health.StatusCode);
        Assert.AreEqual("Healthy", await health.Content.ReadAsStringAsync(), (await ToolRun.RunAsync("fds", app.Pid.ToString())).Stdout);
        ToolResult status = await ToolRun.RunAsync("status", app.Pid.ToString());
        StringAssert.Contains(status.Stdout, "Checkpointable:       Ready\n", status.ToString());
    }

    [TestMethod]
    public async Task PeriodicTimersFireOnceNotOncePerSecondDownAfterFiveSecondsDown()
    {
        int port = Loopback.FreePort();
        string directory = Directory.CreateTempSubdirectory("crac-ticks-").FullName;
        string ticks = Path.Combine(directory, "ticks.log");
        try
        {
            using CracRun app = await CracRun.StartAsync(Sample, ["--urls", $"http://127.0.0.1:{port}", "--ticks-file", ticks], "Now listening on");
            await ProcessRunner.WaitUntilAsync(() => Ticks(ticks).Count(t => t.Kind == "periodic") >= 3, TimeSpan.FromSeconds(15), "three ticks");
            string image = Path.Combine(app.Directory, "image");

            Assert.AreEqual(0, (await app.CheckpointAsync(image)).ExitCode, app.Output);
            await app.WaitForImagedAsync();
            await Task.Delay(TimeSpan.FromSeconds(5));
            Assert.AreEqual(0, (await app.RestoreAsync(image)).ExitCode, app.Output);
            await Task.Delay(TimeSpan.FromSeconds(3.5));

            // A timer that caught up would fire about five times at once after the restore. .NET's
            // timers run on the monotonic clock, which CRIU's time namespace carries over the
            // downtime, so each fires on its period again. The one exception is a PeriodicTimer
            // loop whose tick waited for the checkpoint (BackgroundWork held it): that tick runs at
            // the restore, and PeriodicTimer then gives the one tick it kept meanwhile (it never
            // keeps more). So: at most two at once, then the period. The library's
            // CheckpointPeriodicTimer restarts its schedule at the restore: never two.
            List<(string Kind, long At, int Generation)> all = Ticks(ticks);
            string log = string.Join('\n', all.Select(t => $"{t.Kind} {t.At} generation {t.Generation}"));
            foreach ((string kind, int atOnce) in new[] { ("periodic", 2), ("delay", 1), ("timer", 1), ("checkpoint-timer", 1) })
            {
                List<long> after = [.. all.Where(t => t.Kind == kind && t.Generation == 1).Select(t => t.At)];
                Assert.IsTrue(after.Count >= 3, $"{kind}: {after.Count} ticks after the restore; it should tick on:\n{log}");
                for (int i = atOnce; i < after.Count; i++)
                {
                    Assert.IsTrue(after[i] - after[i - 1] >= 500, $"{kind}: ticks at {after[i - 1]} and {after[i]} ms came in a burst:\n{log}");
                }
            }
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static List<(string Kind, long At, int Generation)> Ticks(string file) =>
        [.. ProcessRunner.ReadShared(file).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => Regex.Match(line, @"^tick ([\w-]+) (\d+) generation (\d+)$"))
            .Where(match => match.Success)
            .Select(match => (match.Groups[1].Value, long.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture), int.Parse(match.Groups[3].Value, CultureInfo.InvariantCulture)))];

    /// <summary>A service on loopback for the sample's outbound HttpClient: it answers "pong N" and counts the connections it accepted.</summary>
    private sealed class OutboundServer : IDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly HashSet<string> _connections = [];
        private int _requests;

        public int Port { get; private set; }

        public string Url => $"http://127.0.0.1:{Port}/";

        public int Connections
        {
            get
            {
                lock (_connections)
                {
                    return _connections.Count;
                }
            }
        }

        public static OutboundServer Start()
        {
            var server = new OutboundServer { Port = Loopback.FreePort() };
            server._listener.Prefixes.Add(server.Url);
            server._listener.Start();
            _ = server.ServeAsync();
            return server;
        }

        private async Task ServeAsync()
        {
            while (_listener.IsListening)
            {
                HttpListenerContext context;
                try
                {
                    context = await _listener.GetContextAsync();
                }
                catch (Exception exception) when (exception is HttpListenerException or ObjectDisposedException or InvalidOperationException)
                {
                    return;
                }

                lock (_connections)
                {
                    // A connection is its client's address and port.
                    _connections.Add(context.Request.RemoteEndPoint.ToString());
                }

                byte[] body = System.Text.Encoding.UTF8.GetBytes($"pong {Interlocked.Increment(ref _requests)}\n");
                context.Response.ContentLength64 = body.Length;
                await context.Response.OutputStream.WriteAsync(body);
                context.Response.Close();
            }
        }

        public void Dispose() => _listener.Close();
    }
}
