using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Crac.EndToEnd.Tests.Infrastructure;

namespace Crac.EndToEnd.Tests;

/// <summary>
/// A <see cref="CheckpointGate"/> under load through a real CRIU checkpoint and restore, driven
/// by the real tool: tests/apps/GateApp pushes units of work through the gate on worker threads
/// and async workers, records any unit that ran in the closed window (by a flag and by the
/// monotonic clock, which CRIU's time namespace carries across), and counts each unit's
/// completions. The restored process closes the gate once more (a simulated checkpoint), as a
/// restored service's next checkpoint would.
/// </summary>
[TestClass]
public sealed class GateCriuTests
{
    [ClassInitialize]
    public static void RequireCriu(TestContext context)
    {
        // Not a skip: CI installs CRIU, and a machine without it must fail here, loudly.
        Assert.IsTrue(File.Exists(Paths.Criu), $"CRIU is not installed at {Paths.Criu}: run .ci/install-criu.sh (the CI does).");
    }

    [TestMethod]
    public async Task WorkThroughTheGateIsQuiescedForACriuCheckpointAndEveryUnitCompletesExactlyOnceAfterRestore()
    {
        string directory = Directory.CreateTempSubdirectory("crac-gate-").FullName;
        string output = Path.Combine(directory, "output.log");
        string report = Path.Combine(directory, "report.log");
        string stop = Path.Combine(directory, "stop");
        string image = Path.Combine(directory, "image");
        using Process launcher = ProcessRunner.Start(
            "dotnet",
            [Paths.Output("GateApp", "GateApp.dll"), "--report-file", report, "--stop-file", stop],
            output,
            null,
            new Dictionary<string, string?> { ["DOTNET_STARTUP_HOOKS"] = Paths.Agent },
            ownSession: true);
        int pid = launcher.Id;
        try
        {
            await ProcessRunner.WaitUntilAsync(() => Completed(output) > 2_000 || launcher.HasExited, TimeSpan.FromSeconds(30), "the app to get going:\n" + ProcessRunner.ReadShared(output));
            Assert.IsFalse(launcher.HasExited, ProcessRunner.ReadShared(output));

            ToolResult checkpoint = await ToolRun.RunAsync("checkpoint", pid.ToString(CultureInfo.InvariantCulture), "--engine", "criu", "--image-dir", image);
            Assert.AreEqual(0, checkpoint.ExitCode, checkpoint + ProcessRunner.ReadShared(output));
            await ProcessRunner.WaitUntilAsync(() => launcher.HasExited, TimeSpan.FromSeconds(20), "the checkpointed app to exit");

            ToolResult restore = await ToolRun.RunAsync("restore", image);
            Assert.AreEqual(0, restore.ExitCode, restore.ToString());
            StringAssert.Contains(restore.Stdout, "generation 1.");
            await ProcessRunner.WaitUntilAsync(() => ProcessRunner.ReadShared(report).Contains("restored generation=1"), TimeSpan.FromSeconds(20), "the app's after-restore");
            // Let the restored app work a while under load, then close the gate once more in the
            // restored process: closing runs membarrier, whose registration CRIU must have restored
            // (without it the runtime aborts the process).
            await Task.Delay(TimeSpan.FromSeconds(1));
            ToolResult again = await ToolRun.RunAsync("checkpoint", pid.ToString(CultureInfo.InvariantCulture), "--engine", "simulate");
            Assert.AreEqual(0, again.ExitCode, again + ProcessRunner.ReadShared(report));
            await ProcessRunner.WaitUntilAsync(() => ProcessRunner.ReadShared(report).Contains("restored generation=2"), TimeSpan.FromSeconds(20), "the second after-restore:\n" + ProcessRunner.ReadShared(report));
            await Task.Delay(TimeSpan.FromMilliseconds(500));
            File.WriteAllText(stop, string.Empty);
            await ProcessRunner.WaitUntilAsync(() => ProcessRunner.ReadShared(report).Contains("final "), TimeSpan.FromSeconds(60), "the app's final report:\n" + ProcessRunner.ReadShared(report));

            string final = ProcessRunner.ReadShared(report).Split('\n').Single(l => l.StartsWith("final ", StringComparison.Ordinal));
            Assert.AreEqual(0, Field(final, "violations"), "units of work ran while the gate was closed: " + final);
            Assert.AreEqual(0, Field(final, "inside-at-window-start"), "the gate reported drained with work inside: " + final);
            Assert.AreEqual(0, Field(final, "lost"), "units never completed: " + final);
            Assert.AreEqual(0, Field(final, "duplicated"), "units completed twice: " + final);
            Assert.AreEqual(Field(final, "produced"), Field(final, "completed"), final);
            Assert.AreEqual(2, Field(final, "windows"), final);
            Assert.AreEqual(2, Field(final, "generation"), final);
            StringAssert.Contains(final, "bypass=False");
            // The run means something only if work arrived at the closed gate and went on after the restore.
            Assert.IsTrue(Field(final, "waiting-at-window-end") > 0, "no work waited at the closed gate: " + final);
            Assert.IsTrue(Field(final, "completed-after-window") > 1_000, "too little work after the restore: " + final);
            Assert.IsTrue(Field(final, "in-flight-at-close") >= 0, final);
            // The close's barrier is membarrier's private expedited command: the restored process is still registered for it.
            foreach (string restored in ProcessRunner.ReadShared(report).Split('\n').Where(l => l.StartsWith("restored ", StringComparison.Ordinal)))
            {
                Assert.AreEqual(16, Field(restored, "membarrier-registrations") & 16, "the restored process is not registered for membarrier: " + restored);
            }

            Console.WriteLine(final);
        }
        finally
        {
            if (ProcessRunner.IsAlive(pid))
            {
                _ = Process.Start("kill", ["-9", pid.ToString(CultureInfo.InvariantCulture)])?.WaitForExit(5000);
            }

            try
            {
                Directory.Delete(directory, recursive: true);
            }
            catch (IOException)
            {
                // An image written by root CRIU, or a restored process still writing: leave it in /tmp.
            }
        }
    }

    /// <summary>The last "progress completed=N" the app printed.</summary>
    private static long Completed(string output) =>
        Regex.Matches(ProcessRunner.ReadShared(output), @"progress completed=(\d+)") is { Count: > 0 } matches
            ? long.Parse(matches[^1].Groups[1].Value, CultureInfo.InvariantCulture)
            : 0;

    /// <summary>A numeric field of the final report.</summary>
    private static long Field(string line, string name) =>
        long.Parse(Regex.Match(line, $@"(?:^| ){Regex.Escape(name)}=(-?\d+)").Groups[1].Value, CultureInfo.InvariantCulture);
}
