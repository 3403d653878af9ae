using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Crac.Benchmarks;

/// <summary>
/// A real checkpoint and restore of the ASP.NET sample through dotnet crac, against raw CRIU on
/// the same app and a cold start: time, time to the first HTTP response, and image size.
/// </summary>
internal static class CriuBenchmarks
{
    private const int Runs = 5;

    public static string Run()
    {
        string scratch = Directory.CreateTempSubdirectory("crac-bench-").FullName;
        string policies = Path.Combine(scratch, "policies.yaml");
        // CRIU 4.2 restores a listening TCP socket itself: leave Kestrel's listener to it.
        File.WriteAllText(policies, "type: socket\nlistening: true\naction: ignore\nwarn: false\n");
        var dump = new List<(string, List<double>)> { ("raw criu dump", []), ("dotnet crac checkpoint --engine criu", []) };
        var restore = new List<(string, List<double>)>
        {
            ("cold start", []), ("raw criu restore", []), ("dotnet crac restore", []), ("dotnet crac restore, to its own end (after-restore ran)", []),
        };
        var sizes = new List<(string, List<double>)> { ("RSS before the checkpoint", []), ("raw CRIU image", []), ("dotnet crac image", []) };
        try
        {
            for (int run = 0; run < Runs; run++)
            {
                // Raw CRIU: no coordination, no heap compaction.
                (int rawPid, int rawPort, double rawCold) = StartWeb(policies, scratch);
                string rawImage = Path.Combine(scratch, $"raw-{run}");
                Directory.CreateDirectory(rawImage);
                sizes[0].Item2.Add(Apps.RssKilobytes(rawPid) / 1024.0);
                dump[0].Item2.Add(Harness.Time(() => Criu("dump", "-t", $"{rawPid}", "-D", rawImage, "-o", "dump.log", "--shell-job")));
                WaitGone(rawPid);
                sizes[1].Item2.Add(Apps.DirectoryBytes(rawImage) / 1048576.0);
                restore[0].Item2.Add(rawCold);
                restore[1].Item2.Add(TimeToFirstResponse(rawPort, () => Criu("restore", "-D", rawImage, "-o", "restore.log", "--shell-job", "--restore-detached")));
                Apps.Kill(rawPid);

                (int pid, int port, _) = StartWeb(policies, scratch);
                string image = Path.Combine(scratch, $"crac-{run}");
                dump[1].Item2.Add(Apps.TimeRun("dotnet", [Apps.Tool, "checkpoint", $"{pid}", "--engine", "criu", "--image-dir", image]));
                WaitGone(pid);
                sizes[2].Item2.Add(Apps.DirectoryBytes(image) / 1048576.0);
                // The app answers as soon as CRIU has restored it; the tool goes on to wake the agent,
                // which runs after-restore, and to report. Both times are measured.
                Process? tool = null;
                var stopwatch = Stopwatch.StartNew();
                restore[2].Item2.Add(TimeToFirstResponse(port, () => tool = Apps.Start("dotnet", [Apps.Tool, "restore", image], Path.Combine(scratch, $"restore-{run}.log"))));
                tool!.WaitForExit();
                restore[3].Item2.Add(stopwatch.Elapsed.TotalMilliseconds);
                Apps.Kill(pid);
            }
        }
        finally
        {
            Directory.Delete(scratch, recursive: true);
        }

        return Harness.Table("Checkpoint of the ASP.NET sample (wall time, the app exits)", dump.Select(d => new Samples(d.Item1, d.Item2)).ToArray()) +
               Harness.Table("Start to the first HTTP 200: cold start, raw CRIU restore, dotnet crac restore", restore.Select(r => new Samples(r.Item1, r.Item2)).ToArray()) +
               Harness.Table("Memory and image size", sizes.Select(s => new Samples(s.Item1, s.Item2, "MB")).ToArray());
    }

    private static (int Pid, int Port, double ColdStartToFirstResponse) StartWeb(string policies, string scratch)
    {
        int port = FreePort();
        string output = Path.Combine(scratch, $"web-{port}.log");
        Process? process = null;
        double cold = TimeToFirstResponse(port, () => process = Apps.Start("dotnet", [Apps.WebApp, "--urls", $"http://127.0.0.1:{port}"], output,
            new Dictionary<string, string> { ["DOTNET_STARTUP_HOOKS"] = Apps.Agent, ["CRAC_RESOURCE_POLICIES"] = policies }));
        Thread.Sleep(300);
        return (process!.Id, port, cold);
    }

    /// <summary>Runs the action, then polls until the app answers 200; the time from the action's start.</summary>
    private static double TimeToFirstResponse(int port, Action start)
    {
        var stopwatch = Stopwatch.StartNew();
        start();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        // No keep-alive: an open connection in the app would block its next checkpoint.
        http.DefaultRequestHeaders.ConnectionClose = true;
        while (true)
        {
            try
            {
                if (http.GetAsync($"http://127.0.0.1:{port}/").GetAwaiter().GetResult().IsSuccessStatusCode)
                {
                    return stopwatch.Elapsed.TotalMilliseconds;
                }
            }
            catch (HttpRequestException)
            {
            }

            if (stopwatch.Elapsed > TimeSpan.FromSeconds(60))
            {
                throw new TimeoutException($"no HTTP 200 on port {port}");
            }

            Thread.Sleep(1);
        }
    }

    private static void Criu(params string[] arguments)
    {
        var start = new ProcessStartInfo(Apps.Criu) { UseShellExecute = false, RedirectStandardOutput = false };
        arguments.ToList().ForEach(start.ArgumentList.Add);
        using Process process = Process.Start(start)!;
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"criu {string.Join(' ', arguments)} failed with {process.ExitCode}");
        }
    }

    private static void WaitGone(int pid) => Apps.WaitFor(() => !Directory.Exists($"/proc/{pid}") || File.ReadAllText($"/proc/{pid}/stat").Contains(") Z"), $"pid {pid} to exit");

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
