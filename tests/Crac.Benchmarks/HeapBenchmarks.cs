using System.Diagnostics;
using System.Globalization;

namespace Crac.Benchmarks;

/// <summary>
/// Issue 11's rows that need a big heap, on tests/apps/HeapApp under the agent: the image of an
/// app holding 200 MB of garbage (row 7), restore of a 200 MB heap against a 20 MB one, plain and
/// with CRIU's lazy pages (row 9), and the freeze a ticking thread sees during a keep-running
/// checkpoint (row 10). Where the tool has no such feature, raw CRIU is measured beside it.
/// </summary>
internal static class HeapBenchmarks
{
    private const int SizeRuns = 5;
    private const int RestoreRuns = 6;
    private const int FreezeRuns = 6;

    public static string Run()
    {
        string scratch = Directory.CreateTempSubdirectory("crac-bench-heap-").FullName;
        try
        {
            string policies = CriuBenchmarks.WritePolicies(scratch);
            return GarbageImages(scratch, policies) + LargeImages(scratch, policies) + KeepRunningFreeze(scratch, policies);
        }
        finally
        {
            Directory.Delete(scratch, recursive: true);
        }
    }

    /// <summary>Row 7: the image of an app with 200 MB of unreachable objects on its heap, raw CRIU against the tool (compact-heap on, the default).</summary>
    private static string GarbageImages(string scratch, string policies)
    {
        var rss = new List<double>();
        var raw = new List<double>();
        var ours = new List<double>();
        for (int run = 0; run < SizeRuns; run++)
        {
            (int rawPid, _, _) = StartHeapApp(["--garbage-mb", "200"], policies);
            rss.Add(Apps.RssKilobytes(rawPid) / 1024.0);
            string rawImage = Directory.CreateDirectory(Path.Combine(scratch, "garbage-raw")).FullName;
            Criu.WaitUntilDumpable(rawPid);
            Criu.Dump(rawPid, rawImage);
            CriuBenchmarks.WaitGone(rawPid);
            raw.Add(Apps.DirectoryBytes(rawImage) / 1048576.0);
            Directory.Delete(rawImage, recursive: true);

            (int pid, _, _) = StartHeapApp(["--garbage-mb", "200"], policies);
            string image = Path.Combine(scratch, "garbage-crac");
            Apps.TimeRun(Apps.Tool, ["checkpoint", $"{pid}", "--engine", "criu", "--image-dir", image]);
            CriuBenchmarks.WaitGone(pid);
            ours.Add(Apps.DirectoryBytes(image) / 1048576.0);
            Directory.Delete(image, recursive: true);
        }

        Samples[] sizes = [new("raw CRIU image", raw, "MB"), new("dotnet crac image (compact-heap)", ours, "MB"), new("RSS before the checkpoint", rss, "MB")];
        Harness.Target(7, "image size, app holding 200 MB of garbage", sizes[0], sizes[1], 0.3);
        return Harness.Table("Image of an app holding 200 MB of garbage at checkpoint time (HeapApp --garbage-mb 200)", sizes);
    }

    /// <summary>
    /// Row 9: restore to the first HTTP 200 of a 20 MB-heap and a 200 MB-heap app: raw `criu restore`,
    /// raw `criu restore --lazy-pages` with its `criu lazy-pages` daemon (userfaultfd: pages come in
    /// on first touch and in the background), the tool as it chooses (--lazy-pages auto), and the
    /// tool made to take the other way. Each image is taken once and restored again and again (the
    /// app writes no file, so the image stays valid). HeapApp reserves 4 GiB for the GC, not 256 GiB,
    /// so that a lazy restore is possible here at all (LazyPages.RefusedByOvercommit).
    /// </summary>
    private static string LargeImages(string scratch, string policies)
    {
        var report = new System.Text.StringBuilder();
        var tool = new Dictionary<int, Samples>();
        foreach (int megabytes in (int[])[20, 200])
        {
            (int rawPid, int rawPort, _) = StartHeapApp(["--live-mb", $"{megabytes}"], policies);
            string rawImage = Directory.CreateDirectory(Path.Combine(scratch, $"live-{megabytes}-raw")).FullName;
            Criu.WaitUntilDumpable(rawPid);
            Criu.Dump(rawPid, rawImage);
            CriuBenchmarks.WaitGone(rawPid);

            (int pid, int port, _) = StartHeapApp(["--live-mb", $"{megabytes}"], policies);
            string image = Path.Combine(scratch, $"live-{megabytes}-crac");
            Apps.TimeRun(Apps.Tool, ["checkpoint", $"{pid}", "--engine", "criu", "--image-dir", image]);
            CriuBenchmarks.WaitGone(pid);
            bool autoIsLazy = Directory.EnumerateFiles(image, "pages-*.img").Sum(file => new FileInfo(file).Length) >= Crac.Engines.Criu.LazyPages.AutoThreshold;
            string other = autoIsLazy ? "false" : "true";

            string log = Path.Combine(scratch, "restore.log");
            IReadOnlyList<Samples> restores = Harness.Alternate(
                RestoreRuns,
                ("raw criu restore", () => Restored(rawPid, () => CriuBenchmarks.TimeToFirstResponse(rawPort, () => Criu.Restore(rawImage)))),
                ("raw criu restore --lazy-pages", () => Restored(rawPid, () => LazyRestoreToFirstResponse(rawImage, rawPort, rawPid))),
                ($"dotnet crac restore (auto: {(autoIsLazy ? "lazy" : "plain")})", () => Restored(pid, () => CriuBenchmarks.ToolRestore(image, port, log).FirstResponse)),
                ($"dotnet crac restore --lazy-pages {other}", () => Restored(pid, () => CriuBenchmarks.ToolRestore(image, port, log, "--lazy-pages", other).FirstResponse)));
            tool[megabytes] = restores[2] with { Name = $"dotnet crac restore, {megabytes} MB heap" };
            string faster = restores[1].Median < restores[0].Median ? "lazy pages" : "a plain restore";
            Harness.Record(9, $"raw restore → first 200, {megabytes} MB heap: lazy pages against plain", Harness.Describe(restores[0]), Harness.Describe(restores[1]),
                Harness.Ratio(restores[1], restores[0]), $"by raw CRIU's numbers {faster} is faster for this image; the tool's auto took {(autoIsLazy ? "lazy pages" : "a plain restore")}");
            report.Append(Harness.Table(
                $"Restore to the first HTTP 200, {megabytes} MB live heap (raw image {Apps.DirectoryBytes(rawImage) / 1048576.0:0} MB, dotnet crac image {Apps.DirectoryBytes(image) / 1048576.0:0} MB)",
                restores));
        }

        Harness.Target(9, "restore → first 200, 200 MB heap against a 20 MB heap (dotnet crac restore, lazy pages auto)", tool[20], tool[200], 2.0);
        return report.ToString();
    }

    /// <summary>
    /// Row 10: the longest gap a thread ticking every millisecond sees while the app is
    /// checkpointed and left running, on a 200 MB heap: raw `criu dump --leave-running`, the tool's
    /// `checkpoint --keep-running` (default options, and without the heap compaction), and no
    /// checkpoint at all (the machine's own noise). Then raw CRIU's iterative pre-dumps, if this
    /// kernel can track dirty memory.
    /// </summary>
    private static string KeepRunningFreeze(string scratch, string policies)
    {
        (int pid, int port, _) = StartHeapApp(["--live-mb", "200"], policies);
        try
        {
            string image = Path.Combine(scratch, "freeze");
            IReadOnlyList<Samples> stalls = Harness.Alternate(
                FreezeRuns,
                ("raw criu dump --leave-running", () => LongestStall(port, image, () =>
                {
                    Criu.WaitUntilDumpable(pid);
                    Criu.Dump(pid, Directory.CreateDirectory(image).FullName, "--leave-running");
                })),
                ("dotnet crac checkpoint --keep-running", () => LongestStall(port, image, () =>
                    Apps.TimeRun(Apps.Tool, ["checkpoint", $"{pid}", "--engine", "criu", "--image-dir", image, "--keep-running"]))),
                ("dotnet crac checkpoint --keep-running, compact-heap=false", () => LongestStall(port, image, () =>
                    Apps.TimeRun(Apps.Tool, ["checkpoint", $"{pid}", "--engine", "criu", "--image-dir", image, "--keep-running", "--engine-options", "compact-heap=false"]))),
                ("no checkpoint (the machine's noise over 300 ms)", () => LongestStall(port, image, () => Thread.Sleep(300))));
            Harness.Target(10, "keep-running: longest stall of a ticking thread, 200 MB heap", stalls[0], stalls[1], 1.2);
            string report = Harness.Table("Longest stall a thread ticking every 1 ms sees during a keep-running checkpoint, 200 MB live heap", stalls);

            (bool tracked, string criuSays) = Criu.Check("mem_dirty_track");
            if (tracked)
            {
                IReadOnlyList<Samples> preDumped = Harness.Alternate(FreezeRuns, ("raw criu pre-dump, then dump --track-mem --leave-running", () => LongestStall(port, image, () =>
                {
                    string previous = Directory.CreateDirectory(Path.Combine(image, "pre")).FullName;
                    string final = Directory.CreateDirectory(Path.Combine(image, "final")).FullName;
                    Criu.WaitUntilDumpable(pid);
                    Criu.Run("pre-dump", "-t", $"{pid}", "-D", previous, "-o", "pre-dump.log", "--shell-job", "--track-mem");
                    Criu.Dump(pid, final, "--track-mem", "--prev-images-dir", "../pre", "--leave-running");
                })));
                Harness.TargetAbsolute(10, "keep-running with iterative pre-dumps (raw CRIU; the tool has none): longest stall, 200 MB heap", preDumped[0], 50);
                report += Harness.Table("The same, with one raw CRIU pre-dump before the final dump (--track-mem)", preDumped);
            }
            else
            {
                Harness.Record(10, "keep-running with iterative pre-dumps (--track-mem), 200 MB heap", "—", "—", "—",
                    $"not measurable on this kernel: `criu check --feature mem_dirty_track` says \"{criuSays}\"; the tool has no pre-dump either");
                report += $"\nIterative pre-dumps not measured: `criu check --feature mem_dirty_track` says \"{criuSays}\" (the kernel has no soft-dirty page tracking).\n";
            }

            return report;
        }
        finally
        {
            Apps.Kill(pid);
        }
    }

    private static (int Pid, int Port, double ColdStart) StartHeapApp(string[] arguments, string policies) =>
        // stdout to /dev/null: a log file that grows would make a second restore of the image fail.
        CriuBenchmarks.StartWeb(Apps.HeapApp, arguments, policies, "/dev/null");

    /// <summary>Measures a restore of the process <paramref name="pid"/>, then kills it so the image can be restored again.</summary>
    private static double Restored(int pid, Func<double> restore)
    {
        double elapsed = restore();
        Apps.Kill(pid);
        return elapsed;
    }

    /// <summary>The lazy-pages daemon and `criu restore --lazy-pages`, both timed, to the first 200; then the daemon is let finish.</summary>
    private static double LazyRestoreToFirstResponse(string image, int port, int pid)
    {
        Process? daemon = null;
        double elapsed = CriuBenchmarks.TimeToFirstResponse(port, () =>
        {
            daemon = Criu.StartLazyPages(image);
            Criu.Restore(image, "--lazy-pages");
        });
        // The daemon exits once it has sent every page; wait for that, so the next restore starts clean.
        if (!daemon!.WaitForExit(30_000))
        {
            throw new TimeoutException($"criu lazy-pages did not finish for pid {pid}; see {image}/lazy-pages.log");
        }

        daemon.Dispose();
        return elapsed;
    }

    /// <summary>Whether a TCP connection to or from the local <paramref name="port"/> still exists (any state but LISTEN and TIME_WAIT, which no process holds).</summary>
    private static bool HasConnections(int port)
    {
        string local = $":{port:X4} ";
        return ((string[])["/proc/net/tcp", "/proc/net/tcp6"]).SelectMany(File.ReadLines).Skip(1)
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Any(fields => fields.Length > 3 && (fields[1] + " ").EndsWith(local, StringComparison.Ordinal) && fields[3] is not "0A" and not "06");
    }

    /// <summary>Resets the app's longest tick gap, runs the checkpoint, and returns the longest gap seen meanwhile.</summary>
    private static double LongestStall(int port, string image, Action checkpoint)
    {
        _ = CriuBenchmarks.Get(port, "/stall");
        // CRIU refuses a connected TCP socket: let the app close the request's connection first.
        Apps.WaitFor(() => !HasConnections(port), $"the connections to port {port} to close");
        checkpoint();
        double stall = double.Parse(CriuBenchmarks.Get(port, "/stall"), CultureInfo.InvariantCulture);
        if (Directory.Exists(image))
        {
            Directory.Delete(image, recursive: true);
        }

        return stall;
    }
}
