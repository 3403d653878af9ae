using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Crac.Benchmarks;

/// <summary>
/// A real checkpoint and restore of the ASP.NET sample through dotnet crac, against raw CRIU on
/// the same app (agent loaded, same kind of image) and a cold start: time, time to the first HTTP
/// response, and image size (issue 11's rows 1, 2, 3 and 6), with the agent as built and with the
/// agent as `dotnet crac run` loads it (<see cref="Apps.ShippedAgent"/>: its hosting layer drains
/// Kestrel before the dump and accepts again only at the end of after-restore, so the first 200
/// waits for the after-restore). Also the helpers the other CRIU benchmarks share: start a web app, wait for its
/// first 200, read an endpoint.
/// </summary>
internal static class CriuBenchmarks
{
    private const int Runs = 7;

    public static string Run()
    {
        string scratch = Directory.CreateTempSubdirectory("crac-bench-").FullName;
        string policies = WritePolicies(scratch);
        const string Shipped = "agent as `dotnet crac run` loads it";
        var dump = new List<(string, List<double>)>
        {
            ("raw criu dump", []), ("dotnet crac checkpoint --engine criu", []), ($"dotnet crac checkpoint --engine criu, {Shipped}", []),
        };
        var restore = new List<(string, List<double>)>
        {
            ("cold start", []), ("raw criu restore", []), ("dotnet crac restore", []), ($"dotnet crac restore, {Shipped}", []),
        };
        var restoreEnd = new List<(string, List<double>)>
        {
            ("raw criu restore, to its exit", []), ("dotnet crac restore, to its own end (after-restore ran)", []), ($"dotnet crac restore, to its own end, {Shipped}", []),
        };
        var sizes = new List<(string, List<double>)> { ("RSS before the checkpoint", []), ("raw CRIU image", []), ("dotnet crac image", []), ($"dotnet crac image, {Shipped}", []) };
        try
        {
            // Raw CRIU and the tool take turns, run by run, so the machine's load hits both.
            for (int run = 0; run < Runs; run++)
            {
                // Raw CRIU: no coordination, no heap compaction.
                (int rawPid, int rawPort, double rawCold) = StartWeb(Apps.WebApp, [], policies, Path.Combine(scratch, $"web-{run}.log"));
                string rawImage = Directory.CreateDirectory(Path.Combine(scratch, $"raw-{run}")).FullName;
                sizes[0].Item2.Add(Apps.RssKilobytes(rawPid) / 1024.0);
                Criu.WaitUntilDumpable(rawPid);
                dump[0].Item2.Add(Harness.Time(() => Criu.Dump(rawPid, rawImage)));
                WaitGone(rawPid);
                sizes[1].Item2.Add(Apps.DirectoryBytes(rawImage) / 1048576.0);
                restore[0].Item2.Add(rawCold);
                // Raw CRIU is timed as the tool is: started, with the first 200 polled while it runs.
                (double rawFirstResponse, double rawEnd) = RawRestore(rawImage, rawPort, Path.Combine(scratch, $"raw-restore-{run}.log"));
                restore[1].Item2.Add(rawFirstResponse);
                restoreEnd[0].Item2.Add(rawEnd);
                Apps.Kill(rawPid);

                // The same with each agent, in turn.
                foreach ((int candidate, string agent, string tag) in (ReadOnlySpan<(int, string, string)>)[(1, Apps.Agent, "crac"), (2, Apps.ShippedAgent, "shipped")])
                {
                    (int pid, int port, _) = StartWeb(Apps.WebApp, [], policies, Path.Combine(scratch, $"web-{run}-{tag}.log"), agent);
                    string image = Path.Combine(scratch, $"{tag}-{run}");
                    dump[candidate].Item2.Add(Apps.TimeRun(Apps.Tool, ["checkpoint", $"{pid}", "--engine", "criu", "--image-dir", image]));
                    WaitGone(pid);
                    sizes[candidate + 1].Item2.Add(Apps.DirectoryBytes(image) / 1048576.0);
                    // The agent as built lets the app answer as soon as CRIU has restored it (its listener
                    // was kept); the shipped one accepts again at the end of after-restore. The tool
                    // goes on to its report either way. Both times are measured.
                    (double firstResponse, double toolEnd) = ToolRestore(image, port, Path.Combine(scratch, $"restore-{run}-{tag}.log"));
                    restore[candidate + 1].Item2.Add(firstResponse);
                    restoreEnd[candidate].Item2.Add(toolEnd);
                    Apps.Kill(pid);
                }
            }
        }
        finally
        {
            Directory.Delete(scratch, recursive: true);
        }

        Samples[] dumps = ToSamples(dump);
        Samples[] restores = ToSamples(restore);
        Samples[] ends = ToSamples(restoreEnd);
        Samples[] images = ToSamples(sizes, "MB");
        Harness.Target(1, "restore → first HTTP 200 (ASP.NET sample)", restores[1], restores[2], 1.2);
        Harness.Target(1, "the same, the agent as `dotnet crac run` loads it (Kestrel accepts after the after-restore)", restores[1], restores[3], 1.2);
        Harness.Target(2, "restore → its own end", ends[0], ends[1], 1.5);
        Harness.Target(2, "the same, the agent as `dotnet crac run` loads it", ends[0], ends[2], 1.5);
        Harness.Record(2, "restore → its own end, against a cold start to first 200", Harness.Describe(restores[0]), Harness.Describe(ends[1]),
            Harness.Ratio(ends[1], restores[0]), "below 1 is faster than a cold start");
        Harness.Target(3, "checkpoint (wall)", dumps[0], dumps[1], 2.0);
        Harness.Target(3, "the same, the agent as `dotnet crac run` loads it (Kestrel drained)", dumps[0], dumps[2], 2.0);
        Harness.Target(6, "image size (ASP.NET sample)", images[1], images[2], 1.0);
        return Harness.Table("Checkpoint of the ASP.NET sample (wall time, the app exits)", dumps) +
               Harness.Table("Start to the first HTTP 200: cold start, raw CRIU restore, dotnet crac restore", restores) +
               Harness.Table("Restore to its own end: raw `criu restore --restore-detached` to its exit, `dotnet crac restore` to its exit", ends) +
               Harness.Table("Memory and image size", images);
    }

    /// <summary>A resource-policies file that leaves listening TCP sockets to CRIU (CRIU 4.2 restores them itself).</summary>
    public static string WritePolicies(string scratch)
    {
        string policies = Path.Combine(scratch, "policies.yaml");
        File.WriteAllText(policies, "type: socket\nlistening: true\naction: ignore\nwarn: false\n");
        return policies;
    }

    /// <summary>Starts a web app under the agent (by startup hook; the built one unless <paramref name="agent"/> says) on a free port and waits for its first 200.</summary>
    public static (int Pid, int Port, double ColdStartToFirstResponse) StartWeb(string app, IEnumerable<string> arguments, string policies, string output, string? agent = null)
    {
        int port = FreePort();
        Process? process = null;
        double cold = TimeToFirstResponse(port, () => process = Apps.Start("dotnet", [app, .. arguments, "--urls", $"http://127.0.0.1:{port}"], output,
            new Dictionary<string, string> { ["DOTNET_STARTUP_HOOKS"] = agent ?? Apps.Agent, ["CRAC_RESOURCE_POLICIES"] = policies }));
        // Let start-up's background work (tiering, the agent's warm-up) settle before an image is taken.
        Thread.Sleep(300);
        return (process!.Id, port, cold);
    }

    /// <summary>`dotnet crac restore`: the time to the app's first 200, and to the tool's exit.</summary>
    public static (double FirstResponse, double ToolEnd) ToolRestore(string image, int port, string log, params string[] options) =>
        RestoreWhilePolling(Apps.Tool, ["restore", image, .. options], port, log);

    /// <summary>Raw `criu restore`, timed the same way: to the app's first 200, and to CRIU's exit.</summary>
    public static (double FirstResponse, double End) RawRestore(string image, int port, string log) =>
        RestoreWhilePolling(Criu.Path, Criu.RestoreArguments(image), port, log);

    /// <summary>
    /// Starts a restorer and polls the app for its first 200 while it runs (so the poller's load
    /// falls on every restorer alike); then waits for the restorer's exit. Both from its start.
    /// </summary>
    private static (double FirstResponse, double End) RestoreWhilePolling(string restorer, string[] arguments, int port, string log)
    {
        Process? process = null;
        Task<double>? exited = null;
        string Failure() => $"{Path.GetFileName(restorer)} {arguments[0]} failed with {process!.ExitCode}: {File.ReadAllText(log)}{Criu.LogErrors(arguments)}";
        var stopwatch = Stopwatch.StartNew();
        double firstResponse = TimeToFirstResponse(
            port,
            () =>
            {
                process = Apps.Start(restorer, arguments, log);
                // Its exit is timed when it happens, whether before the first 200 (raw CRIU) or after it.
                exited = Task.Factory.StartNew(() =>
                {
                    process.WaitForExit();
                    return stopwatch.Elapsed.TotalMilliseconds;
                }, TaskCreationOptions.LongRunning);
            },
            failed: () => exited!.IsCompleted && process!.ExitCode != 0 ? Failure() : null);
        using (process)
        {
            double end = exited!.GetAwaiter().GetResult();
            return process!.ExitCode == 0 ? (firstResponse, end) : throw new InvalidOperationException(Failure());
        }
    }

    /// <summary>
    /// Runs the action, then polls until the app answers 200; the time from the action's start.
    /// <paramref name="failed"/> says why the app will not answer (its restorer failed), or null.
    /// </summary>
    public static double TimeToFirstResponse(int port, Action start, Func<string?>? failed = null)
    {
        var stopwatch = Stopwatch.StartNew();
        start();
        while (true)
        {
            try
            {
                _ = Get(port, "/");
                return stopwatch.Elapsed.TotalMilliseconds;
            }
            catch (HttpRequestException)
            {
            }

            if (failed?.Invoke() is { } failure)
            {
                throw new InvalidOperationException(failure);
            }

            if (stopwatch.Elapsed > TimeSpan.FromSeconds(60))
            {
                throw new TimeoutException($"no HTTP 200 on port {port}");
            }

            Thread.Sleep(1);
        }
    }

    /// <summary>One GET that must answer 200, on a connection that is closed after it (an open one would block the next checkpoint).</summary>
    public static string Get(int port, string path)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        http.DefaultRequestHeaders.ConnectionClose = true;
        using HttpResponseMessage response = http.GetAsync($"http://127.0.0.1:{port}{path}").GetAwaiter().GetResult();
        return response.EnsureSuccessStatusCode().Content.ReadAsStringAsync().GetAwaiter().GetResult();
    }

    /// <summary>Waits until a dumped process has exited (a zombie until its parent reaps it counts).</summary>
    public static void WaitGone(int pid) => Apps.WaitFor(() => !Directory.Exists($"/proc/{pid}") || File.ReadAllText($"/proc/{pid}/stat").Contains(") Z"), $"pid {pid} to exit");

    private static Samples[] ToSamples(List<(string Name, List<double> Values)> samples, string unit = "ms") =>
        samples.Select(s => new Samples(s.Name, s.Values, unit)).ToArray();

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
