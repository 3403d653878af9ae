using System.Diagnostics;
using System.Globalization;
using System.Text;
using Crac.EndToEnd.Tests.Infrastructure;

namespace Crac.Benchmarks;

/// <summary>
/// The hosting sample (AddCrac, Npgsql against PostgreSQL, StackExchange.Redis against
/// redis-server) after `dotnet crac restore` against a cold start of the same sample: the time to
/// the first HTTP 200, and the latency of the first 1,000 requests against steady state. Requests
/// are sequential on one keep-alive connection, rotating over /, /db and /redis, so the first ones
/// after the restore pay the pools' reconnects.
/// </summary>
internal static class HostingBenchmarks
{
    private const int Runs = 5;
    private const int Requests = 1000;
    private const int WarmUp = 4000;
    private static readonly string[] Paths = ["/", "/db", "/redis"];

    public static string Run() => RunAsync().GetAwaiter().GetResult();

    private static async Task<string> RunAsync()
    {
        await using PostgresServer postgres = await PostgresServer.StartAsync();
        await using RedisServer redis = await RedisServer.StartAsync();
        string scratch = Directory.CreateTempSubdirectory("crac-bench-hosting-").FullName;
        var firstResponse = new Dictionary<string, List<double>> { ["cold start"] = [], ["dotnet crac restore"] = [] };
        var p50 = new Dictionary<string, List<double>> { ["steady state"] = [], ["first 1,000 after dotnet crac restore"] = [], ["first 1,000 after a cold start"] = [] };
        var p99 = new Dictionary<string, List<double>> { ["steady state"] = [], ["first 1,000 after dotnet crac restore"] = [], ["first 1,000 after a cold start"] = [] };
        try
        {
            for (int run = 0; run < Runs; run++)
            {
                int port = Loopback.FreePort();
                string output = Path.Combine(scratch, $"sample-{run}.log");
                string[] arguments = [Apps.HostingSample, "--urls", $"http://127.0.0.1:{port}", "--postgres", postgres.ConnectionString, "--redis", redis.Configuration];
                var environment = new Dictionary<string, string> { ["DOTNET_STARTUP_HOOKS"] = Apps.Agent };

                Process? sample = null;
                firstResponse["cold start"].Add(await TimeToFirstResponseAsync(port, () => sample = Apps.Start("dotnet", arguments, output, environment)));
                int pid = sample!.Id;
                using (var client = Client(port))
                {
                    (double coldP50, double coldP99) = await LatenciesAsync(client, Requests);
                    p50["first 1,000 after a cold start"].Add(coldP50);
                    p99["first 1,000 after a cold start"].Add(coldP99);
                    await LatenciesAsync(client, WarmUp);
                    (double steadyP50, double steadyP99) = await LatenciesAsync(client, Requests);
                    p50["steady state"].Add(steadyP50);
                    p99["steady state"].Add(steadyP99);
                }

                string image = Path.Combine(scratch, $"image-{run}");
                Apps.TimeRun(Apps.Tool, ["checkpoint", pid.ToString(CultureInfo.InvariantCulture), "--engine", "criu", "--image-dir", image]);
                Apps.WaitFor(() => !Directory.Exists($"/proc/{pid}") || File.ReadAllText($"/proc/{pid}/stat").Contains(") Z"), $"pid {pid} to be imaged");
                sample.WaitForExit();
                Process? restore = null;
                firstResponse["dotnet crac restore"].Add(await TimeToFirstResponseAsync(port, () => restore = Apps.Start(Apps.Tool, ["restore", image], output)));
                using (var client = Client(port))
                {
                    (double restoredP50, double restoredP99) = await LatenciesAsync(client, Requests);
                    p50["first 1,000 after dotnet crac restore"].Add(restoredP50);
                    p99["first 1,000 after dotnet crac restore"].Add(restoredP99);
                }

                restore!.WaitForExit();
                Apps.Kill(pid);
            }
        }
        finally
        {
            Directory.Delete(scratch, recursive: true);
        }

        var text = new StringBuilder();
        text.Append(Harness.Table("Hosting sample: start to the first HTTP 200", firstResponse.Select(e => new Samples(e.Key, e.Value)).ToArray()));
        text.Append(Harness.Table("Hosting sample: p50 of 1,000 sequential requests (median over runs)", p50.Select(e => new Samples(e.Key, e.Value)).ToArray()));
        text.Append(Harness.Table("Hosting sample: p99 of 1,000 sequential requests (median over runs; target after a restore: at most 1.5x steady state)", p99.Select(e => new Samples(e.Key, e.Value)).ToArray()));
        return text.ToString();
    }

    private static HttpClient Client(int port) => new() { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(10) };

    /// <summary>Sends <paramref name="count"/> sequential requests and returns the p50 and p99 of their latencies in milliseconds.</summary>
    private static async Task<(double P50, double P99)> LatenciesAsync(HttpClient client, int count)
    {
        var latencies = new double[count];
        for (int i = 0; i < count; i++)
        {
            long start = Stopwatch.GetTimestamp();
            using HttpResponseMessage response = await client.GetAsync(Paths[i % Paths.Length]);
            await response.Content.ReadAsStringAsync();
            latencies[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            if (!response.IsSuccessStatusCode)
            {
                throw new InvalidOperationException($"{Paths[i % Paths.Length]} answered {(int)response.StatusCode}");
            }
        }

        Array.Sort(latencies);
        return (latencies[(int)(count * 0.50)], latencies[Math.Min(count - 1, (int)Math.Ceiling(count * 0.99) - 1)]);
    }

    /// <summary>Runs the action, then polls / until it answers 200: the time from the action's start.</summary>
    private static async Task<double> TimeToFirstResponseAsync(int port, Action start)
    {
        var stopwatch = Stopwatch.StartNew();
        start();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        // No keep-alive: each poll is a new connection, as the first client would make.
        http.DefaultRequestHeaders.ConnectionClose = true;
        while (true)
        {
            try
            {
                using HttpResponseMessage response = await http.GetAsync($"http://127.0.0.1:{port}/");
                if (response.IsSuccessStatusCode)
                {
                    return stopwatch.Elapsed.TotalMilliseconds;
                }
            }
            catch (HttpRequestException)
            {
            }

            if (stopwatch.Elapsed > TimeSpan.FromSeconds(60))
            {
                throw new TimeoutException($"no HTTP 200 on port {port} within 60 s");
            }

            await Task.Delay(1);
        }
    }
}
