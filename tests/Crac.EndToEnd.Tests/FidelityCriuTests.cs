using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Crac.EndToEnd.Tests.Infrastructure;

namespace Crac.EndToEnd.Tests;

/// <summary>
/// A restored process is right, not just alive: real CRIU checkpoints and restores of
/// tests/apps/FidelityApp, an application that knows nothing of dotnet-crac (the agent is loaded
/// as a startup hook), driven by the real tool. Each test takes its own image.
/// </summary>
[TestClass]
public sealed class FidelityCriuTests
{
    [ClassInitialize]
    public static void RequireCriu(TestContext context)
    {
        // Not a skip: CI installs CRIU, and a machine without it must fail here, loudly.
        Assert.IsTrue(File.Exists(Paths.Criu), $"CRIU is not installed at {Paths.Criu}: run .ci/install-criu.sh (the CI does).");
    }

    [TestMethod]
    public async Task TwoRestoresOfOneImageDrawDifferentRandomSequencesInAnUnmodifiedApp()
    {
        using var app = await FidelityApp.StartAsync();
        Sample before = await app.SampleAsync();
        await app.CheckpointAsync();

        ToolResult firstRestore = await app.RestoreAsync();
        Sample first = await app.SampleAsync();
        await app.KillRestoredAsync();
        ToolResult secondRestore = await app.RestoreAsync();
        Sample second = await app.SampleAsync();

        // The control: what nobody reseeds repeats itself exactly, so the memory both restores
        // started from was the same; everything the agent reseeds differs.
        Assert.AreEqual(first["seeded"], second["seeded"], "new Random(seed) is the application's to seed and must repeat");
        Assert.AreNotEqual(before["seeded"], first["seeded"], "the seeded generator moved on before the checkpoint");
        Assert.AreNotEqual(first["shared-main"], second["shared-main"], $"Random.Shared on a thread that existed at the checkpoint repeated itself:\n{first}\n{second}");
        Assert.AreNotEqual(first["shared-pool"], second["shared-pool"], "Random.Shared on a pool thread repeated itself");
        Assert.AreNotEqual(first["unseeded"], second["unseeded"], "new Random() repeated itself");
        Assert.AreNotEqual(first["rng"], second["rng"], "RandomNumberGenerator (OpenSSL's DRBG) repeated itself");
        Assert.AreNotEqual(first["guid"], second["guid"]);
        foreach (ToolResult restore in new[] { firstRestore, secondRestore })
        {
            StringAssert.Matches(restore.Stdout, new Regex(@"Random: +fixed: reseeded \d+ generator states"), restore.ToString());
            StringAssert.Contains(restore.Stdout, "seeded Random:        detected: 1 new Random(seed)");
            StringAssert.Contains(restore.Stdout, "RandomNumberGenerator: fixed: OpenSSL's DRBG");
            StringAssert.Contains(restore.Stdout, "string hashing:       per-image:");
        }

        ToolResult status = await ToolRun.RunAsync("status", app.Pid.ToString(CultureInfo.InvariantCulture), "--format", "json");
        using JsonDocument json = JsonDocument.Parse(status.Stdout);
        JsonElement random = json.RootElement.GetProperty("fidelity").EnumerateArray().Single(f => f.GetProperty("area").GetString() == "Random");
        Assert.AreEqual("fixed", random.GetProperty("state").GetString(), status.Stdout);
    }

    [TestMethod]
    public async Task PeriodicTimersDoNotBurstAfterFiveSecondsDown()
    {
        using var app = await FidelityApp.StartAsync();
        await ProcessRunner.WaitUntilAsync(() => app.Ticks("timer").Count >= 10, TimeSpan.FromSeconds(10), "ten ticks before the checkpoint");
        await app.CheckpointAsync();
        await Task.Delay(TimeSpan.FromSeconds(5));

        await app.RestoreAsync();
        ToolResult status = await ToolRun.RunAsync("status", app.Pid.ToString(CultureInfo.InvariantCulture), "--format", "json");
        using JsonDocument json = JsonDocument.Parse(status.Stdout);
        long restoredAt = json.RootElement.GetProperty("restoreTime").GetDateTimeOffset().ToUnixTimeMilliseconds();
        await ProcessRunner.WaitUntilAsync(() => app.Ticks("timer").Any(t => t.Wall > restoredAt + 1_500), TimeSpan.FromSeconds(10), "ticks for a second and a half after the restore");

        foreach (string timer in new[] { "timer", "periodic", "delay" })
        {
            IReadOnlyList<Tick> ticks = app.Ticks(timer);
            long lastBefore = ticks.Where(t => t.Wall < restoredAt).Max(t => t.Wall);
            Assert.IsTrue(restoredAt - lastBefore >= 5_000, $"{timer}: the process was not down 5 s ({restoredAt - lastBefore} ms)");
            Tick[] after = [.. ticks.Where(t => t.Wall >= restoredAt)];
            long firstBack = after[0].Wall;
            // A timer that was due while the process was frozen for the dump is late by more than a
            // period when it comes back, so .NET's TimerQueue fires it once more 1 ms later and then
            // keeps its rate: a pair, never the 50 ticks that were due while down. "Within half a
            // period" keeps the regular next tick (due ~100 ms after the pair) out of the count.
            int inFirstHalfPeriod = after.Count(t => t.Wall < firstBack + 50);
            int inFirstSecond = after.Count(t => t.Wall < restoredAt + 1_000);
            string seen = string.Join(", ", ticks.Where(t => t.Wall < restoredAt).TakeLast(3).Concat(after.Take(12)).Select(t => $"{t.Wall - restoredAt}/{t.Monotonic}"));
            Console.WriteLine($"{timer}: {inFirstHalfPeriod} ticks in the first 50 ms back, {inFirstSecond} in the first second (50 were due while down); ms after the restore/monotonic ms: {seen}");
            Assert.IsTrue(inFirstHalfPeriod <= 2, $"{timer} fired {inFirstHalfPeriod} times within 50 ms of coming back: a catch-up burst ({seen})");
            Assert.IsTrue(inFirstSecond <= 12, $"{timer} fired {inFirstSecond} times in its first second back");
            Assert.IsTrue(inFirstSecond >= 5, $"{timer} barely ran after the restore ({inFirstSecond} ticks in a second)");
        }
    }

    [TestMethod]
    public async Task ATimeZoneChangedBetweenCheckpointAndRestoreIsSeen()
    {
        using var app = await FidelityApp.StartAsync(new Dictionary<string, string?> { ["TZ"] = "Etc/UTC" });
        Sample before = await app.SampleAsync();
        Assert.AreEqual("Etc/UTC", before["tz"]);
        await app.CheckpointAsync();

        ToolResult restore = await app.RestoreAsync(environment: new Dictionary<string, string?> { ["TZ"] = "Asia/Tokyo" });
        Sample after = await app.SampleAsync();

        Assert.AreEqual("Asia/Tokyo", after["tz"], after.ToString());
        Assert.AreEqual("540", after["offset"], "DateTime.Now follows the new zone (UTC+9)");
        StringAssert.Contains(restore.Stdout, "time zone:            fixed: Etc/UTC at the checkpoint, Asia/Tokyo now (TZ=Asia/Tokyo)");
    }

    [TestMethod]
    public async Task RestoredUnderAnotherCgroupMemoryLimitTheGcFollowsIt()
    {
        const long Limit = 512L << 20;
        using var cgroup = TestCgroup.Create(Limit);
        using var app = await FidelityApp.StartAsync();
        Sample before = await app.SampleAsync();
        Assert.IsTrue(long.Parse(before["memory"], CultureInfo.InvariantCulture) > Limit, $"this machine's GC budget is already under {Limit} bytes: {before}");
        await app.CheckpointAsync();

        // `dotnet crac restore` run in the cgroup: CRIU restores the process into the restorer's cgroup.
        ToolResult restore = await app.RestoreAsync(cgroupProcs: cgroup.ProcsFile);
        Sample after = await app.SampleAsync();

        Assert.IsTrue(cgroup.Holds(app.Pid), $"the restored process is not in {cgroup.Directory}: {File.ReadAllText($"/proc/{app.Pid}/cgroup")}");
        long budget = long.Parse(after["memory"], CultureInfo.InvariantCulture);
        Assert.IsTrue(budget <= Limit && budget >= Limit / 2,
            $"GC.GetGCMemoryInfo().TotalAvailableMemoryBytes is {budget} under a {Limit}-byte limit (it was {before["memory"]}):\n{restore}");
        StringAssert.Contains(restore.Stdout, "memory limit:         fixed: the cgroup memory limit was no limit at the checkpoint and is 512 MiB here");
    }

    [TestMethod]
    public async Task InspectSecretsFindsThePlantedSecretsAndNeverPrintsThem()
    {
        using var app = await FidelityApp.StartAsync();
        await app.SampleAsync();
        string[] planted = File.ReadAllLines(app.SecretsFile);
        Assert.AreEqual(3, planted.Length);
        await app.CheckpointAsync();

        ToolResult text = await ToolRun.RunAsync("inspect", app.Image, "--secrets");
        ToolResult json = await ToolRun.RunAsync("inspect", app.Image, "--secrets", "--format", "json");

        Assert.AreEqual(16, text.ExitCode, text.ToString());
        Assert.AreEqual(16, json.ExitCode, json.ToString());
        StringAssert.Contains(text.Stdout, "- private key block (PEM)");
        StringAssert.Contains(text.Stdout, "- connection string with a password");
        StringAssert.Contains(text.Stdout, "- bearer token");
        StringAssert.Matches(text.Stdout, new Regex($@"pages-\d+\.img \+0x[0-9a-f]+: pid {app.Pid} at 0x[0-9a-f]+ in anonymous memory"));
        StringAssert.Contains(text.Stdout, "UTF-16");
        StringAssert.Contains(text.Stdout, "Fix: keep secrets out of the image");
        using JsonDocument document = JsonDocument.Parse(json.Stdout);
        JsonElement[] findings = [.. document.RootElement.GetProperty("secrets").GetProperty("findings").EnumerateArray()];
        Assert.IsTrue(findings.Any(f => f.GetProperty("kind").GetString() == "bearer token" && f.GetProperty("encoding").GetString()!.Contains("ASCII/UTF-8")),
            "the bearer token held as UTF-8 bytes was not found: " + json.Stdout);
        foreach (string secret in planted)
        {
            foreach (string output in new[] { text.Output, json.Output })
            {
                // Not the value, nor any 12 characters of it.
                for (int i = 0; i + 12 <= secret.Length; i++)
                {
                    Assert.IsFalse(output.Contains(secret.Substring(i, 12), StringComparison.Ordinal), $"inspect printed part of a secret: {secret.Substring(i, 12)}");
                }
            }
        }
    }

    /// <summary>One sample line of the app: its key=value fields.</summary>
    private sealed class Sample(string line)
    {
        private readonly Dictionary<string, string> _fields = Regex.Matches(line, @"(\S+)=(\S+)").ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value);

        public string this[string key] => _fields.TryGetValue(key, out string? value) ? value : throw new KeyNotFoundException($"{key} is not in: {line}");

        public override string ToString() => line;
    }

    private sealed record Tick(long Wall, long Monotonic);

    /// <summary>FidelityApp under the agent, with its report, commands, secrets file and image.</summary>
    private sealed class FidelityApp : IDisposable
    {
        private readonly Process _launcher;
        private int _samples;

        private FidelityApp(Process launcher, string directory)
        {
            _launcher = launcher;
            Directory = directory;
            Pid = launcher.Id;
        }

        public int Pid { get; }

        public string Directory { get; }

        public string Report => Path.Combine(Directory, "report.log");

        public string Output => Path.Combine(Directory, "output.log");

        public string Commands => Path.Combine(Directory, "commands");

        public string SecretsFile => Path.Combine(Directory, "secrets.txt");

        public string Image => Path.Combine(Directory, "image");

        public static async Task<FidelityApp> StartAsync(IDictionary<string, string?>? environment = null)
        {
            string directory = System.IO.Directory.CreateTempSubdirectory("crac-fidelity-").FullName;
            System.IO.Directory.CreateDirectory(Path.Combine(directory, "commands"));
            var allEnvironment = new Dictionary<string, string?>(environment ?? new Dictionary<string, string?>()) { ["DOTNET_STARTUP_HOOKS"] = Paths.Agent };
            Process launcher = ProcessRunner.Start(
                "dotnet",
                [Paths.Output("FidelityApp", "FidelityApp.dll"), "--report-file", Path.Combine(directory, "report.log"), "--command-dir", Path.Combine(directory, "commands"), "--secrets-file", Path.Combine(directory, "secrets.txt")],
                Path.Combine(directory, "output.log"),
                null,
                allEnvironment,
                ownSession: true);
            var app = new FidelityApp(launcher, directory);
            try
            {
                await ProcessRunner.WaitUntilAsync(
                    () => ProcessRunner.ReadShared(app.Output).Contains("ready pid=", StringComparison.Ordinal) || launcher.HasExited,
                    TimeSpan.FromSeconds(30), () => "FidelityApp to start:\n" + ProcessRunner.ReadShared(app.Output));
                Assert.IsFalse(launcher.HasExited, ProcessRunner.ReadShared(app.Output));
            }
            catch
            {
                app.Dispose();
                throw;
            }

            return app;
        }

        /// <summary>Asks the app for a sample and waits for it.</summary>
        public async Task<Sample> SampleAsync()
        {
            int expected = ++_samples;
            File.WriteAllText(Path.Combine(Commands, "sample"), string.Empty);
            await ProcessRunner.WaitUntilAsync(() => Samples().Count >= expected, TimeSpan.FromSeconds(15),
                () => $"sample {expected} from pid {Pid}:\n{ProcessRunner.ReadShared(Output)}");
            return new Sample(Samples()[expected - 1]);
        }

        private List<string> Samples() => [.. ProcessRunner.ReadShared(Report).Split('\n').Where(l => l.Contains(" sample ", StringComparison.Ordinal))];

        public IReadOnlyList<Tick> Ticks(string timer) =>
        [
            .. ProcessRunner.ReadShared(Report).Split('\n')
                .Where(l => l.EndsWith($" tick {timer}", StringComparison.Ordinal))
                .Select(l => l.Split(' '))
                .Select(p => new Tick(long.Parse(p[0], CultureInfo.InvariantCulture), long.Parse(p[1], CultureInfo.InvariantCulture))),
        ];

        public async Task CheckpointAsync()
        {
            ToolResult checkpoint = await ToolRun.RunAsync("checkpoint", Pid.ToString(CultureInfo.InvariantCulture), "--engine", "criu", "--image-dir", Image);
            Assert.AreEqual(0, checkpoint.ExitCode, checkpoint + ProcessRunner.ReadShared(Output));
            await ProcessRunner.WaitUntilAsync(() => _launcher.HasExited, TimeSpan.FromSeconds(20), "the checkpointed app to exit");
        }

        /// <summary>Restores the image (detached, output to the app's log), from within a cgroup when one is given.</summary>
        public async Task<ToolResult> RestoreAsync(IDictionary<string, string?>? environment = null, string? cgroupProcs = null)
        {
            string[] arguments = ["restore", Image, "--output", Output];
            ToolResult restore = cgroupProcs is null
                ? await ToolRun.RunAsync(arguments, environment)
                : await RunInCgroupAsync(cgroupProcs, arguments);
            Assert.AreEqual(0, restore.ExitCode, restore.ToString());
            return restore;
        }

        private static async Task<ToolResult> RunInCgroupAsync(string procs, string[] arguments)
        {
            string directory = System.IO.Directory.CreateTempSubdirectory("crac-tool-").FullName;
            string stdout = Path.Combine(directory, "stdout");
            string stderr = Path.Combine(directory, "stderr");
            var stopwatch = Stopwatch.StartNew();
            // The shell joins the cgroup, then becomes the tool: CRIU, its child, restores into it.
            using Process process = ProcessRunner.Start(
                "/bin/sh", ["-c", "echo $$ > \"$0\" && exec \"$@\"", procs, "dotnet", Paths.Tool, .. arguments], stdout, stderr, null);
            using var timeout = new CancellationTokenSource(ToolRun.DefaultTimeout);
            await process.WaitForExitAsync(timeout.Token);
            var result = new ToolResult(process.ExitCode, ProcessRunner.ReadShared(stdout), ProcessRunner.ReadShared(stderr), stopwatch.Elapsed);
            System.IO.Directory.Delete(directory, recursive: true);
            return result;
        }

        public async Task KillRestoredAsync()
        {
            _ = Process.Start("kill", ["-9", Pid.ToString(CultureInfo.InvariantCulture)])?.WaitForExit(5000);
            await ProcessRunner.WaitUntilAsync(() => !System.IO.Directory.Exists($"/proc/{Pid}"), TimeSpan.FromSeconds(10), $"the restored process {Pid} to go");
        }

        public void Dispose()
        {
            if (ProcessRunner.IsAlive(Pid))
            {
                _ = Process.Start("kill", ["-9", Pid.ToString(CultureInfo.InvariantCulture)])?.WaitForExit(5000);
            }

            _launcher.Dispose();
            try
            {
                System.IO.Directory.Delete(Directory, recursive: true);
            }
            catch (IOException)
            {
                // A restored process still writing: leave it in /tmp.
            }
        }
    }

    /// <summary>
    /// A memory cgroup this test creates (cgroup v2 at /sys/fs/cgroup, or the v1 memory hierarchy
    /// where the host mounts controllers separately, as this one does) with a limit, removed at the end.
    /// </summary>
    private sealed class TestCgroup : IDisposable
    {
        private TestCgroup(string directory) => Directory = directory;

        public string Directory { get; }

        public string ProcsFile => Path.Combine(Directory, "cgroup.procs");

        public static TestCgroup Create(long limit)
        {
            bool v2 = File.Exists("/sys/fs/cgroup/cgroup.controllers");
            string parent = v2 ? "/sys/fs/cgroup" : "/sys/fs/cgroup/memory";
            string directory = Path.Combine(parent, $"crac-e2e-{Guid.NewGuid():N}");
            try
            {
                System.IO.Directory.CreateDirectory(directory);
                File.WriteAllText(Path.Combine(directory, v2 ? "memory.max" : "memory.limit_in_bytes"), limit.ToString(CultureInfo.InvariantCulture));
            }
            catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
            {
                // Not a skip: this test needs a cgroup it can create, and says why it has none.
                Assert.Fail($"Cannot create a memory cgroup with a limit at {directory} ({exception.Message}). The test needs root with CAP_SYS_ADMIN and a writable " +
                    $"{(v2 ? "cgroup v2 hierarchy with the memory controller enabled in cgroup.subtree_control" : "v1 memory hierarchy")}.");
            }

            return new TestCgroup(directory);
        }

        public bool Holds(int pid) =>
            File.ReadAllText(ProcsFile).Split('\n', StringSplitOptions.RemoveEmptyEntries).Contains(pid.ToString(CultureInfo.InvariantCulture));

        public void Dispose()
        {
            foreach (string pid in File.ReadAllText(ProcsFile).Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                _ = Process.Start("kill", ["-9", pid])?.WaitForExit(5000);
            }

            var stopwatch = Stopwatch.StartNew();
            while (System.IO.Directory.Exists(Directory))
            {
                try
                {
                    // A cgroup directory is removed with rmdir once its processes are gone.
                    System.IO.Directory.Delete(Directory);
                }
                catch (IOException) when (stopwatch.Elapsed < TimeSpan.FromSeconds(10))
                {
                    Thread.Sleep(50);
                }
            }
        }
    }
}
