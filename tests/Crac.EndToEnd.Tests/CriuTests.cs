using System.Diagnostics;
using System.Runtime.Intrinsics.X86;
using System.Text.Json;
using System.Text.Json.Nodes;
using Crac.EndToEnd.Tests.Infrastructure;

namespace Crac.EndToEnd.Tests;

/// <summary>Real checkpoints and restores through CRIU (installed by .ci/install-criu.sh).</summary>
[TestClass]
public sealed class CriuTests
{
    private static readonly UnixFileMode PrivateDirectory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private static readonly UnixFileMode PrivateFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    [ClassInitialize]
    public static void RequireCriu(TestContext context)
    {
        // Not a skip: CI installs CRIU, and a machine without it must fail here, loudly.
        Assert.IsTrue(File.Exists(Paths.Criu), $"CRIU is not installed at {Paths.Criu}: run .ci/install-criu.sh (the CI does).");
    }

    [TestMethod]
    public async Task CheckpointStopsTheProcessAndRestoreBringsItBackWithItsStateNewEnvironmentAndArguments()
    {
        using SampleProcess app = await SampleProcess.StartAsync();
        await app.WaitForOutputAsync("tick 10 ");
        string image = Path.Combine(app.Directory, "image");

        ToolResult checkpoint = await ToolRun.RunAsync("checkpoint", app.Pid.ToString(), "--engine", "criu", "--image-dir", image);

        Assert.AreEqual(0, checkpoint.ExitCode, checkpoint.ToString());
        StringAssert.Contains(checkpoint.Stdout, $"written to {image} (criu engine); the process has exited.");
        StringAssert.Contains(checkpoint.Stdout, $"Restore it with: dotnet crac restore {image}");
        // The process is gone before it could report: its phases come from when it parked, then CRIU's dump.
        StringAssert.Matches(checkpoint.Stdout, new System.Text.RegularExpressions.Regex(@"before-checkpoint\s+[\d.]+ m?s\n  compact-heap\s+[\d.]+ m?s\n  criu-dump\s+[\d.]+ m?s"));
        await app.WaitForExitAsync();
        AssertPrivateImage(image);
        JsonNode metadata = JsonNode.Parse(File.ReadAllText(Path.Combine(image, "crac-image.json")))!;
        Assert.AreEqual(app.Pid, (int)metadata["pid"]!);
        StringAssert.StartsWith((string)metadata["runtime"]!, ".NET 10");
        StringAssert.Contains(string.Join(' ', metadata["commandLine"]!.AsArray().Select(a => (string)a!)), "SampleApp.dll");
        Assert.IsTrue(metadata["cpuFeatures"]!.AsArray().Count > 0);
        StringAssert.StartsWith((string)metadata["criuVersion"]!, "4.");
        Assert.AreEqual(0, (int)metadata["generation"]!);
        Assert.IsNotNull(metadata["createdAt"]);
        Assert.IsTrue(metadata.AsObject().ContainsKey("cgroupMemoryMax") || metadata.AsObject().ContainsKey("cgroupCpuMax") || true);
        Assert.IsTrue(File.Exists(Path.Combine(image, "dump.log")));

        ToolResult restore = await ToolRun.RunAsync(["restore", image, "--", "--port", "8081"], new Dictionary<string, string?> { ["SAMPLE_MESSAGE"] = "hello-from-restore" });

        Assert.AreEqual(0, restore.ExitCode, restore.ToString());
        StringAssert.Matches(restore.Stdout, new System.Text.RegularExpressions.Regex($@"Restored process {app.Pid} \(SampleApp\) from {image} in [\d.]+ m?s \(CRIU [\d.]+ m?s, after-restore done\), generation 1\."));
        await ProcessRunner.WaitUntilAsync(() => app.Report.Any(l => l.StartsWith("entry-point")), TimeSpan.FromSeconds(10), "the restore entry point");
        string entry = app.Report.Single(l => l.StartsWith("entry-point"));
        StringAssert.StartsWith(entry, "entry-point args=--port 8081 ");
        StringAssert.Contains(entry, "generation=1 message=hello-from-restore");
        long counterAtRestore = long.Parse(System.Text.RegularExpressions.Regex.Match(entry, @"counter=(\d+)").Groups[1].Value);
        Assert.IsTrue(counterAtRestore >= 10, "the restored process keeps the state it had: " + entry);
        ToolResult status = await ToolRun.RunAsync("status", app.Pid.ToString(), "--format", "json");
        using JsonDocument document = JsonDocument.Parse(status.Stdout);
        Assert.AreEqual(1, document.RootElement.GetProperty("generation").GetInt32());
        Assert.AreEqual("restored", document.RootElement.GetProperty("lastCheckpointOutcome").GetString());
        Assert.IsTrue(document.RootElement.TryGetProperty("restoreTime", out _));
        Assert.IsTrue(document.RootElement.GetProperty("uptimeSinceRestoreMilliseconds").GetDouble() >= 0);
    }

    [TestMethod]
    public async Task KeepRunningWritesAnImageAndTheProcessCarriesOn()
    {
        using SampleProcess app = await SampleProcess.StartAsync();
        string image = Path.Combine(app.Directory, "image");

        ToolResult checkpoint = await ToolRun.RunAsync("checkpoint", app.Pid.ToString(), "--engine", "criu", "--image-dir", image, "--keep-running");

        Assert.AreEqual(0, checkpoint.ExitCode, checkpoint.ToString());
        StringAssert.Contains(checkpoint.Stdout, "the process carries on");
        Assert.IsTrue(app.IsAlive);
        await app.WaitForOutputAsync("resource-3: after restore");
        ToolResult status = await ToolRun.RunAsync("status", app.Pid.ToString());
        StringAssert.Contains(status.Stdout, "Last checkpoint:      kept-running");
        StringAssert.Contains(status.Stdout, "Generation:           0");

        // The kept-running original holds the pid: a restore must say so, and work once it is gone.
        ToolResult conflict = await ToolRun.RunAsync("restore", image);
        Assert.AreEqual(14, conflict.ExitCode, conflict.ToString());
        StringAssert.Contains(conflict.Stderr, $"pid {app.Pid}, which the checkpointed process had and must have again, is in use by SampleApp");
        StringAssert.Contains(conflict.Stderr, "a --keep-running checkpoint");
        app.Kill();
        ToolResult restore = await ToolRun.RunAsync("restore", image);
        Assert.AreEqual(0, restore.ExitCode, restore.ToString());
        Assert.IsTrue(app.IsAlive);
    }

    [TestMethod]
    public async Task AFailedDumpLeavesTheAppRunningWithEveryResourceRestoredAndPrintsCriusErrors()
    {
        // The policy leaves the locked file to CRIU, which refuses file locks: the dump itself fails.
        string directory = Directory.CreateTempSubdirectory("crac-policy-").FullName;
        string policies = Path.Combine(directory, "policies.yaml");
        File.WriteAllText(policies, "type: file\npath: **/locked.txt\naction: ignore\nwarn: false\n");
        using SampleProcess app = await SampleProcess.StartAsync(
            ["--leak-file", Path.Combine(directory, "locked.txt")], environment: new Dictionary<string, string?> { ["CRAC_RESOURCE_POLICIES"] = policies });
        string image = Path.Combine(app.Directory, "image");

        ToolResult checkpoint = await ToolRun.RunAsync("checkpoint", app.Pid.ToString(), "--engine", "criu", "--image-dir", image);

        Assert.AreEqual(2, checkpoint.ExitCode, checkpoint.ToString());
        StringAssert.Contains(checkpoint.Stderr, "Suppressed: Crac.Engines.Criu.CriuException: CRIU dump failed (exit code 1):");
        StringAssert.Contains(checkpoint.Stderr, "Some file locks are hold by dumping tasks");
        StringAssert.Contains(checkpoint.Stderr, "Fix: A FileStream holds a lock");
        Assert.IsTrue(app.IsAlive);
        await app.WaitForOutputAsync("resource-3: after restore");
        ToolResult status = await ToolRun.RunAsync("status", app.Pid.ToString());
        StringAssert.Contains(status.Stdout, "Last checkpoint:      failed");
        Assert.AreEqual(0, (await ToolRun.RunAsync("checkpoint", app.Pid.ToString())).ExitCode, "the app is still coordinated and checkpointable");
        Directory.Delete(directory, recursive: true);
    }

    [TestMethod]
    public async Task OneImageRestoresRepeatedlyAndARestoredProcessCheckpointsAgain()
    {
        using SampleProcess app = await SampleProcess.StartAsync();
        string image = Path.Combine(app.Directory, "image");
        string second = Path.Combine(app.Directory, "image-2");
        Assert.AreEqual(0, (await ToolRun.RunAsync("checkpoint", app.Pid.ToString(), "--engine", "criu", "--image-dir", image)).ExitCode);
        await app.WaitForExitAsync();

        for (int round = 1; round <= 2; round++)
        {
            ToolResult restore = await ToolRun.RunAsync("restore", image);
            Assert.AreEqual(0, restore.ExitCode, $"restore {round}: {restore}");
            StringAssert.Contains(restore.Stdout, "generation 1.");
            app.Kill();
            await ProcessRunner.WaitUntilAsync(() => !Directory.Exists($"/proc/{app.Pid}"), TimeSpan.FromSeconds(10), "the restored process to go");
        }

        Assert.AreEqual(0, (await ToolRun.RunAsync("restore", image)).ExitCode);
        ToolResult again = await ToolRun.RunAsync("checkpoint", app.Pid.ToString(), "--engine", "criu", "--image-dir", second);
        Assert.AreEqual(0, again.ExitCode, again + ProcessRunner.DescribeDescriptors(app.Pid));
        await ProcessRunner.WaitUntilAsync(() => !Directory.Exists($"/proc/{app.Pid}"), TimeSpan.FromSeconds(10), "the second checkpoint to end the process");
        ToolResult restoreSecond = await ToolRun.RunAsync("restore", second);
        Assert.AreEqual(0, restoreSecond.ExitCode, restoreSecond.ToString());
        StringAssert.Contains(restoreSecond.Stdout, "generation 2.");
    }

    [TestMethod]
    public async Task RestoreRefusesAnImageOthersCouldHaveWrittenOrThisCpuCannotRun()
    {
        using SampleProcess app = await SampleProcess.StartAsync();
        string image = Path.Combine(app.Directory, "image");
        Assert.AreEqual(0, (await ToolRun.RunAsync("checkpoint", app.Pid.ToString(), "--engine", "criu", "--image-dir", image, "--keep-running")).ExitCode);
        app.Kill();
        string metadataPath = Path.Combine(image, "crac-image.json");
        string pages = Directory.GetFiles(image, "pages-*.img").First();

        File.SetUnixFileMode(pages, PrivateFile | UnixFileMode.GroupWrite);
        ToolResult groupWritable = await ToolRun.RunAsync("restore", image);
        File.SetUnixFileMode(pages, PrivateFile);

        Process.Start("chown", ["nobody", pages])!.WaitForExit();
        ToolResult foreignOwner = await ToolRun.RunAsync("restore", image);
        Process.Start("chown", ["root", pages])!.WaitForExit();

        // A set this CPU lacks (by the runtime and by /proc/cpuinfo); on a CPU with all of these, one of another architecture.
        string cpuinfo = File.ReadAllText("/proc/cpuinfo");
        (string Set, bool Has, string Knob)[] candidates =
        [
            ("Avx512F", Avx512F.IsSupported || cpuinfo.Contains(" avx512f", StringComparison.Ordinal), "DOTNET_EnableAVX512F=0"),
            ("AvxVnni", AvxVnni.IsSupported || cpuinfo.Contains(" avx_vnni", StringComparison.Ordinal), "DOTNET_EnableAVXVNNI=0"),
            ("Gfni", Gfni.IsSupported || cpuinfo.Contains(" gfni", StringComparison.Ordinal), "DOTNET_EnableGFNI=0"),
            ("Avx2", Avx2.IsSupported || cpuinfo.Contains(" avx2", StringComparison.Ordinal), "DOTNET_EnableAVX2=0"),
        ];
        (string lacking, string? knob) = candidates.FirstOrDefault(c => !c.Has) is { Set: not null } missing ? (missing.Set, missing.Knob) : ("AdvSimd", null);
        JsonNode metadata = JsonNode.Parse(File.ReadAllText(metadataPath))!;
        metadata["cpuFeatures"]!.AsArray().Add(lacking);
        File.WriteAllText(metadataPath, metadata.ToJsonString());
        ToolResult changedMetadata = await ToolRun.RunAsync("restore", image);
        // As an image taken on a CPU with AVX-512 would be, before manifests: the manifest would refuse the edit itself.
        File.Delete(Path.Combine(image, "crac-manifest.json"));
        ToolResult missingCpu = await ToolRun.RunAsync("restore", image);

        Assert.AreEqual(13, groupWritable.ExitCode, groupWritable.ToString());
        StringAssert.Contains(groupWritable.Stderr, $"Refusing to restore {image}: {pages} is writable by group or others");
        Assert.AreEqual(13, foreignOwner.ExitCode, foreignOwner.ToString());
        StringAssert.Contains(foreignOwner.Stderr, "belongs to uid 65534, not to you (uid 0) or root, so another user could have written this image");
        Assert.AreEqual(13, changedMetadata.ExitCode, changedMetadata.ToString());
        StringAssert.Contains(changedMetadata.Stderr, "crac-image.json is ");
        Assert.AreEqual(13, missingCpu.ExitCode, missingCpu.ToString());
        StringAssert.Contains(missingCpu.Stderr, $"This CPU lacks instruction sets the image's code may use: {lacking}.");
        StringAssert.Contains(missingCpu.Stderr, knob ?? "DOTNET_Enable<ISA>=0");

        Assert.IsFalse(app.IsAlive, "no refused restore may start the process");
    }

    [TestMethod]
    public async Task AnApplicationWithThePrivilegesCheckpointsItselfThroughTheApi()
    {
        string directory = Directory.CreateTempSubdirectory("crac-self-").FullName;
        string image = Path.Combine(directory, "image");
        using SampleProcess app = await SampleProcess.StartAsync(
            ["--self-checkpoint"],
            environment: new Dictionary<string, string?> { ["CRAC_ENGINE"] = "criu", ["CRAC_CHECKPOINT_TO"] = image, ["CRAC_CRIU_PATH"] = Paths.Criu });

        await app.WaitForExitAsync(TimeSpan.FromSeconds(30));
        Assert.IsTrue(File.Exists(Path.Combine(image, "crac-image.json")), app.Output);
        AssertPrivateImage(image);

        ToolResult restore = await ToolRun.RunAsync("restore", image);

        Assert.AreEqual(0, restore.ExitCode, restore.ToString());
        await ProcessRunner.WaitUntilAsync(() => app.Report.Any(l => l.StartsWith("self-checkpoint returned")), TimeSpan.FromSeconds(15), "the restored app to return from its checkpoint");
        StringAssert.Contains(app.Report.Single(l => l.StartsWith("self-checkpoint returned")), "generation=1");
        Directory.Delete(directory, recursive: true);
    }

    [TestMethod]
    public async Task AnAppWhoseSessionLeaderIsOutsideItsPidNamespaceGetsTheFixAndCarriesOn()
    {
        // unshare(1) puts the app in a pid namespace of its own, outside which its session leader
        // stays: the situation of an app in a sandbox or container whose first process never called setsid.
        string directory = Directory.CreateTempSubdirectory("crac-nosession-").FullName;
        string output = Path.Combine(directory, "output.log");
        string report = Path.Combine(directory, "report.log");
        using Process unshare = StartInOwnPidNamespace(
            ["dotnet", Paths.SampleApp, "--leak-file", Path.Combine(directory, "leaked.txt"), "--self-checkpoint", "--report-file", report],
            output,
            new Dictionary<string, string?>
            {
                ["DOTNET_STARTUP_HOOKS"] = Paths.Agent, ["CRAC_ENGINE"] = "criu",
                ["CRAC_CHECKPOINT_TO"] = Path.Combine(directory, "image"), ["CRAC_CRIU_PATH"] = Paths.Criu,
            });
        try
        {
            await ProcessRunner.WaitUntilAsync(() => File.Exists(report) && File.ReadAllText(report).Contains("self-checkpoint failed"), TimeSpan.FromSeconds(30), "the checkpoint to fail");
            await ProcessRunner.WaitUntilAsync(() => File.ReadAllText(output).Contains("tick 10 "), TimeSpan.FromSeconds(20), "the app to carry on");

            string text = File.ReadAllText(output);
            // Every problem at once: the leaked file and the session, before CRIU would run.
            StringAssert.Contains(text, "Suppressed: Crac.CheckpointOpenFileException: FileDescriptor ");
            StringAssert.Contains(text, "its session leader is outside its PID namespace (getsid reads 0)");
            StringAssert.Contains(text, "setsid dotnet app.dll");
            Assert.IsFalse(File.Exists(Path.Combine(directory, "image", "dump.log")), "CRIU is not run at all");
        }
        finally
        {
            unshare.Kill();
            await unshare.WaitForExitAsync();
            Directory.Delete(directory, recursive: true);
        }
    }

    [TestMethod]
    public async Task RunGivesTheAppASessionOfItsOwnWhereThereIsNoneSoCriuCanDumpIt()
    {
        string directory = Directory.CreateTempSubdirectory("crac-runsession-").FullName;
        string output = Path.Combine(directory, "output.log");
        string image = Path.Combine(directory, "image");
        using Process unshare = StartInOwnPidNamespace(
            ["dotnet", Paths.Tool, "run", "--", "dotnet", Paths.SampleApp, "--self-checkpoint"],
            output,
            new Dictionary<string, string?> { ["CRAC_ENGINE"] = "criu", ["CRAC_CHECKPOINT_TO"] = image, ["CRAC_CRIU_PATH"] = Paths.Criu });
        try
        {
            // A successful dump ends the app, then run, then unshare.
            await unshare.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token);

            // CRIU writes its stats only at the end of a successful dump.
            Assert.IsTrue(File.Exists(Path.Combine(image, "stats-dump")), File.ReadAllText(output));
            // Its CRIU could not dump the pid namespace it runs in: run left the app in this one, and said so.
            StringAssert.Contains(File.ReadAllText(output), "dotnet-crac: the app shares this pid namespace (CRAC_ENGINE=criu: an app that checkpoints itself runs CRIU");
            AssertPrivateImage(image);
        }
        finally
        {
            unshare.Kill();
            Directory.Delete(directory, recursive: true);
        }
    }

    [TestMethod]
    public async Task AnAppThatIsPid1OfItsNamespaceCannotCheckpointItselfSaysWhyAndGoesOn()
    {
        string directory = Directory.CreateTempSubdirectory("crac-pid1-").FullName;
        string output = Path.Combine(directory, "output.log");
        using Process run = ProcessRunner.Start(
            "dotnet", [Paths.Tool, "run", "--pid-namespace", "own", "--", "dotnet", Paths.SampleApp, "--self-checkpoint"], output, null,
            new Dictionary<string, string?> { ["CRAC_ENGINE"] = "criu", ["CRAC_CHECKPOINT_TO"] = Path.Combine(directory, "image"), ["CRAC_CRIU_PATH"] = Paths.Criu },
            ownSession: true);
        try
        {
            await ProcessRunner.WaitUntilAsync(() => ProcessRunner.ReadShared(output).Contains("CheckpointException", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "the self-checkpoint to fail");
            int ticks = CracRun.Occurrences(ProcessRunner.ReadShared(output), "tick ");
            StringAssert.Contains(ProcessRunner.ReadShared(output), "This process is pid 1 of its pid namespace");
            StringAssert.Contains(ProcessRunner.ReadShared(output), "`dotnet crac run --pid-namespace shared`");
            // The app's own status said so before it tried: a verdict that predicts the checkpoint.
            StringAssert.Contains(ProcessRunner.ReadShared(output), "self-checkpoint status: ReadyLater: This process is pid 1 of its pid namespace");
            await ProcessRunner.WaitUntilAsync(() => CracRun.Occurrences(ProcessRunner.ReadShared(output), "tick ") > ticks, TimeSpan.FromSeconds(10), "the app to go on ticking");
            Assert.IsFalse(run.HasExited, "the app goes on after its failed checkpoint");
        }
        finally
        {
            run.Kill(entireProcessTree: true);
            Directory.Delete(directory, recursive: true);
        }
    }

    [TestMethod]
    public async Task ThePauseEngineStopsAtTheCoordinationPointUntilRestoreWakesIt()
    {
        using SampleProcess app = await SampleProcess.StartAsync();
        string image = Path.Combine(app.Directory, "paused");

        ToolResult checkpoint = await ToolRun.RunAsync("checkpoint", app.Pid.ToString(), "--engine", "pause", "--image-dir", image);
        string pidFile = File.ReadAllText(Path.Combine(image, "pid"));
        ToolResult status = await ToolRun.RunAsync("status", app.Pid.ToString());
        ToolResult restore = await ToolRun.RunAsync(["restore", image], new Dictionary<string, string?> { ["SAMPLE_MESSAGE"] = "woken" });

        Assert.AreEqual(0, checkpoint.ExitCode, checkpoint.ToString());
        StringAssert.Contains(checkpoint.Stdout, "is paused at its checkpoint (pause engine)");
        Assert.AreEqual($"{app.Pid}\n", pidFile);
        StringAssert.Contains(status.Stdout, "ReadyLater: A checkpoint is in progress (paused)");
        Assert.AreEqual(0, restore.ExitCode, restore.ToString());
        StringAssert.Contains(restore.Stdout, "generation 1.");
        await app.WaitForOutputAsync("resource-3: after restore");
        Assert.IsTrue(app.Report.Any(line => line.Contains("message=")), "the app kept running");
    }

    [TestMethod]
    public async Task DoctorSaysWhetherCriuCanKeepItsKernelProbesBetweenCalls()
    {
        // The same doctor, with /run as this machine has it, and with a tmpfs on /run in a mount namespace of its own.
        ToolResult here = await ToolRun.RunAsync("doctor", "--criu-path", Paths.Criu);
        string directory = Directory.CreateTempSubdirectory("crac-doctor-").FullName;
        string output = Path.Combine(directory, "tmpfs-run.log");
        using Process onTmpfs = ProcessRunner.Start(
            "unshare", ["--mount", "/bin/sh", "-c", "mount -t tmpfs tmpfs /run && exec \"$@\"", "sh", "dotnet", Paths.Tool, "doctor", "--criu-path", Paths.Criu],
            output, null, null);
        Assert.IsTrue(onTmpfs.WaitForExit(TimeSpan.FromSeconds(60)), "doctor under a tmpfs /run did not finish in 60 s");
        string withTmpfs = File.ReadAllText(output);
        string runType = await ReadFileSystemTypeAsync("/run");

        Assert.AreEqual(0, here.ExitCode, here.ToString());
        Assert.AreEqual(0, onTmpfs.ExitCode, withTmpfs);
        StringAssert.Contains(withTmpfs, "[ ok ] criu probe cache: /run is a tmpfs: CRIU keeps what it probed of the kernel there between calls");
        if (runType == "tmpfs")
        {
            StringAssert.Contains(here.Stdout, "criu probe cache: /run is a tmpfs");
        }
        else
        {
            StringAssert.Contains(here.Stdout, "criu probe cache: /run is ");
            StringAssert.Contains(here.Stdout, "not a tmpfs: CRIU cannot keep what it probed of the kernel");
            StringAssert.Contains(here.Stdout, "Fix: Mount a tmpfs on /run");
        }

        Directory.Delete(directory, recursive: true);
    }

    /// <summary>The file-system type of the mount a path is on, as stat(1) reads it (statfs), not as the tool does (mountinfo).</summary>
    private static async Task<string> ReadFileSystemTypeAsync(string path)
    {
        using Process stat = Process.Start(new ProcessStartInfo("stat", ["-f", "-c", "%T", path]) { RedirectStandardOutput = true })!;
        string type = (await stat.StandardOutput.ReadToEndAsync()).Trim();
        await stat.WaitForExitAsync();
        return type;
    }

    [TestMethod]
    public async Task AMissingOrOldCriuGetsTheDoctorsExplanation()
    {
        string directory = Directory.CreateTempSubdirectory("crac-old-criu-").FullName;
        string oldCriu = Path.Combine(directory, "criu");
        // It answers --version as CRIU 3.17 does, and fails anything else, as 3.17 does on this kernel.
        File.WriteAllText(oldCriu, "#!/bin/sh\necho 'Version: 3.17.1'\n[ \"$1\" = --version ]\n");
        File.SetUnixFileMode(oldCriu, PrivateDirectory);

        ToolResult missing = await ToolRun.RunAsync("doctor", "--criu-path", Path.Combine(directory, "nope"));
        ToolResult old = await ToolRun.RunAsync("doctor", "--criu-path", oldCriu);
        ToolResult good = await ToolRun.RunAsync("doctor", "--criu-path", Paths.Criu);
        using SampleProcess app = await SampleProcess.StartAsync();
        ToolResult checkpoint = await ToolRun.RunAsync("checkpoint", app.Pid.ToString(), "--engine", "criu", "--image-dir", Path.Combine(directory, "img"), "--criu-path", oldCriu);

        Assert.AreEqual(12, missing.ExitCode, missing.ToString());
        StringAssert.Contains(missing.Stdout, "but there is no such file");
        Assert.AreEqual(12, old.ExitCode, old.ToString());
        StringAssert.Contains(old.Stdout, "is CRIU 3.17.1, too old for this kernel");
        StringAssert.Contains(old.Stdout, "Fix: Run .ci/install-criu.sh");
        Assert.AreEqual(0, good.ExitCode, good.ToString());
        StringAssert.Contains(good.Stdout, "can checkpoint and restore .NET processes here");
        Assert.AreEqual(2, checkpoint.ExitCode, checkpoint.ToString());
        StringAssert.Contains(checkpoint.Stderr, "is CRIU 3.17.1, too old for this kernel");
        StringAssert.Contains(checkpoint.Stderr, "dotnet crac doctor");
        Assert.IsTrue(app.IsAlive);

        // A restore does not ask CRIU's version first (it is on the path to the first response),
        // but when CRIU fails, it says why: this CRIU is too old. The image is left as it was.
        string image = Path.Combine(directory, "good-img");
        Assert.AreEqual(0, (await ToolRun.RunAsync("checkpoint", app.Pid.ToString(), "--engine", "criu", "--image-dir", image)).ExitCode);
        await app.WaitForExitAsync();
        ToolResult oldRestore = await ToolRun.RunAsync("restore", image, "--criu-path", oldCriu);
        Assert.AreEqual(12, oldRestore.ExitCode, oldRestore.ToString());
        StringAssert.Contains(oldRestore.Stderr, "is CRIU 3.17.1, too old for this kernel");
        ToolResult goodRestore = await ToolRun.RunAsync("restore", image);
        Assert.AreEqual(0, goodRestore.ExitCode, goodRestore.ToString());
        app.Kill();
        Directory.Delete(directory, recursive: true);
    }

    [TestMethod]
    public async Task AnInteractiveAppIsRestoredIntoTheRestorersTerminalInTheForeground()
    {
        // script(1) gives each side a terminal of its own, as an operator's shell would.
        string directory = Directory.CreateTempSubdirectory("crac-tty-").FullName;
        string image = Path.Combine(directory, "image");
        string firstTerminal = Path.Combine(directory, "first.log");
        string secondTerminal = Path.Combine(directory, "second.log");
        using Process original = Process.Start("script", ["-qfc", $"DOTNET_STARTUP_HOOKS={Paths.Agent} dotnet {Paths.SampleApp}", firstTerminal])!;
        Process? restorer = null;
        int pid = 0;
        try
        {
            pid = await ProcessRunner.WaitForReadyPidAsync(firstTerminal, "the app in its terminal");
            string originalTerminal = new FileInfo($"/proc/{pid}/fd/1").LinkTarget!;
            StringAssert.StartsWith(originalTerminal, "/dev/pts/");

            ToolResult checkpoint = await ToolRun.RunAsync("checkpoint", pid.ToString(), "--engine", "criu", "--image-dir", image);
            Assert.AreEqual(0, checkpoint.ExitCode, checkpoint.ToString());
            await ProcessRunner.WaitUntilAsync(() => !ProcessRunner.IsAlive(pid), TimeSpan.FromSeconds(10), "the original to exit");
            StringAssert.Contains(File.ReadAllText(Path.Combine(image, "crac-image.json")), "\"interactive\":true");

            // Changed memory pages are refused in the terminal too, checked while CRIU restores (as a
            // large image's are): CRIU holds the process at post-restore, and kills it.
            string pages = ImageFiles.LargestPages(image);
            ImageFiles.FlipMiddleByte(pages);
            string refusedTerminal = Path.Combine(directory, "refused.log");
            using (Process refused = Process.Start("script", ["-qfec", $"dotnet {Paths.Tool} restore {image} --check-pages during", refusedTerminal])!)
            {
                Assert.IsTrue(refused.WaitForExit(TimeSpan.FromSeconds(60)), "the refused restore ends");
                Assert.AreEqual(13, refused.ExitCode, File.ReadAllText(refusedTerminal));
            }

            StringAssert.Contains(File.ReadAllText(refusedTerminal), $"{Path.GetFileName(pages)} does not match its SHA-256 in the manifest");
            StringAssert.Contains(File.ReadAllText(Path.Combine(image, "restore.log")), "Aborting restore due to post-restore script");
            await ProcessRunner.WaitUntilAsync(() => !Directory.Exists($"/proc/{pid}"), TimeSpan.FromSeconds(10), $"the refused pid {pid} to be gone");
            ImageFiles.FlipMiddleByte(pages);

            restorer = Process.Start("script", ["-qfc", $"dotnet {Paths.Tool} restore {image}", secondTerminal])!;
            await ProcessRunner.WaitUntilAsync(
                () => File.Exists(secondTerminal) && File.ReadAllText(secondTerminal) is var text && text.Contains("generation=1") && text.Contains("Restored process"),
                TimeSpan.FromSeconds(30), "the restore's report and the restored app's output in the new terminal");

            StringAssert.Contains(File.ReadAllText(secondTerminal), $"Restored process {pid} (SampleApp)");
            StringAssert.StartsWith(new FileInfo($"/proc/{pid}/fd/1").LinkTarget, "/dev/pts/");
            Assert.IsTrue(original.HasExited, "the original terminal is gone: what the app writes now shows in the restorer's");
            Assert.IsFalse(restorer.HasExited, "in the foreground, the restore lasts as long as the app");
            Process.Start("kill", ["-9", pid.ToString()])!.WaitForExit();
            Assert.IsTrue(restorer.WaitForExit(TimeSpan.FromSeconds(15)), "the restore ends with the app");
        }
        finally
        {
            if (pid > 0 && ProcessRunner.IsAlive(pid))
            {
                Process.Start("kill", ["-9", pid.ToString()])!.WaitForExit();
            }

            restorer?.Kill(entireProcessTree: true);
            original.Kill(entireProcessTree: true);
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>
    /// Starts a command as the first process of a new pid namespace (with its own /proc), whose
    /// session leader therefore stays outside it. Its stdio is opened inside the new mount
    /// namespace, and fds inherited from the test host are closed: CRIU cannot dump an fd whose
    /// mount it cannot see.
    /// </summary>
    private static Process StartInOwnPidNamespace(IEnumerable<string> command, string output, IDictionary<string, string?> environment) =>
        ProcessRunner.Start(
            "unshare",
            [
                "--pid", "--fork", "--kill-child", "--mount-proc", "/bin/bash", "-c",
                "for fd in $(ls /proc/$$/fd); do [ \"$fd\" -gt 2 ] && eval \"exec $fd<&-\"; done 2>/dev/null; exec \"$@\" </dev/null >>\"$CRAC_TEST_STDOUT\" 2>&1",
                "bash", .. command,
            ],
            output,
            null,
            environment);

    private static void AssertPrivateImage(string image)
    {
        Assert.AreEqual(PrivateDirectory, File.GetUnixFileMode(image));
        foreach (string file in Directory.GetFiles(image))
        {
            Assert.AreEqual(PrivateFile, File.GetUnixFileMode(file), file);
        }
    }
}
