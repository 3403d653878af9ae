using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Crac.EndToEnd.Tests.Infrastructure;

namespace Crac.EndToEnd.Tests;

/// <summary>
/// Containers, services and fleets, on real CRIU: a process in a container (pid and mount
/// namespaces with a /tmp of its own, made with unshare) reached from the host and from a
/// sidecar, checkpointed and restored; a restore that finds its pid taken; a restore that
/// supervises; an image checked against its manifest and labels, inspected, and started cold
/// instead when it cannot be used.
/// </summary>
[TestClass]
public sealed partial class ContainerTests
{
    // The container's entrypoint: inherited fds closed (CRIU cannot dump files of another mount
    // namespace), a private /tmp, its stdio there, and a session of its own.
    private const string Entrypoint = """
        #!/bin/bash
        for f in /proc/$$/fd/*; do fd=${f##*/}; [ "$fd" -gt 2 ] && eval "exec $fd<&-"; done 2>/dev/null
        cd / && mount -t tmpfs tmpfs /tmp && exec setsid "$@" </dev/null >/tmp/out.log 2>&1
        """;

    [ClassInitialize]
    public static void RequireCriu(TestContext context) =>
        Assert.IsTrue(File.Exists(Paths.Criu), $"CRIU is not installed at {Paths.Criu}: run .ci/install-criu.sh (the CI does).");

    [TestMethod]
    public async Task AProcessInAContainerIsReachedByItsHostPidAndFromASidecarThenCheckpointedAndRestored()
    {
        string directory = Directory.CreateTempSubdirectory("crac-container-").FullName;
        string entrypoint = Path.Combine(directory, "entrypoint.sh");
        File.WriteAllText(entrypoint, Entrypoint);
        File.SetUnixFileMode(entrypoint, (UnixFileMode)0b111_000_000);
        using Process container = ProcessRunner.Start(
            "unshare", ["--pid", "--fork", "--mount-proc", "--mount", entrypoint, "dotnet", Paths.SampleApp], Path.Combine(directory, "unshare.log"), null,
            new Dictionary<string, string?> { ["DOTNET_STARTUP_HOOKS"] = Paths.Agent }, ownSession: true);
        int pid = 0;
        int restored = 0;
        try
        {
            await ProcessRunner.WaitUntilAsync(() => (pid = ProcessRunner.FindByCommandLine("dotnet " + Paths.SampleApp)) > 0, TimeSpan.FromSeconds(20), "the app in its container");
            string output = $"/proc/{pid}/root/tmp/out.log";
            await ProcessRunner.WaitUntilAsync(() => ProcessRunner.ReadShared(output).Contains("tick 10 ", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "the app's ticks in its /tmp");
            Assert.AreEqual($"{pid}\t1", NamespacePids(pid), "the app is pid 1 of its own pid namespace");

            ToolResult ps = await ToolRun.RunAsync("ps", "--format", "json");
            Assert.AreEqual(0, ps.ExitCode, ps.ToString());
            JsonNode? entry = JsonNode.Parse(ps.Stdout)!.AsArray().SingleOrDefault(p => (int)p!["pid"]! == pid);
            Assert.IsNotNull(entry, $"ps lists the container's process by its host pid {pid}:\n{ps}");
            Assert.AreEqual(true, (bool?)entry["agent"]);

            ToolResult status = await ToolRun.RunAsync("status", pid.ToString(CultureInfo.InvariantCulture), "--format", "json");
            Assert.AreEqual(0, status.ExitCode, status.ToString());
            Assert.AreEqual(0, (int)JsonNode.Parse(status.Stdout)!["generation"]!);
            ToolResult fds = await ToolRun.RunAsync("fds", pid.ToString(CultureInfo.InvariantCulture));
            Assert.AreEqual(0, fds.ExitCode, fds.ToString());
            StringAssert.Contains(fds.Stdout, "/tmp/out.log");

            // A sidecar: the container's pid namespace, mounts of its own (its own /tmp); the app is pid 1 to it.
            string sidecar = Path.Combine(directory, "sidecar.log");
            using (Process side = ProcessRunner.Start(
                "nsenter", ["--target", pid.ToString(CultureInfo.InvariantCulture), "--pid", "--", "unshare", "--mount", "--fork", "--mount-proc",
                    "/bin/sh", "-c", "mount -t tmpfs tmpfs /tmp && exec \"$@\"", "sidecar", "dotnet", Paths.Tool, "status", "1", "--format", "json"],
                sidecar, null, null))
            {
                Assert.IsTrue(side.WaitForExit(30_000), "the sidecar's status ends");
                Assert.AreEqual(0, side.ExitCode, ProcessRunner.ReadShared(sidecar));
                StringAssert.Contains(ProcessRunner.ReadShared(sidecar), "\"generation\": 0");
            }

            string image = Path.Combine(directory, "image");
            ToolResult checkpoint = await ToolRun.RunAsync("checkpoint", pid.ToString(CultureInfo.InvariantCulture), "--engine", "criu", "--image-dir", image, "--label", "app=sample");
            Assert.AreEqual(0, checkpoint.ExitCode, checkpoint.ToString());
            await ProcessRunner.WaitUntilAsync(() => !ProcessRunner.IsAlive(pid), TimeSpan.FromSeconds(10), "the checkpointed app to be gone");
            JsonNode metadata = JsonNode.Parse(File.ReadAllText(Path.Combine(image, "crac-image.json")))!;
            Assert.AreEqual(1, (int)metadata["pid"]!, "the image knows the app by its pid in the container");
            Assert.IsTrue((bool)metadata["ownPidNamespace"]! && (bool)metadata["ownMountNamespace"]!, metadata.ToJsonString());
            Assert.IsFalse((bool)metadata["sharedTemporaryDirectory"]!, "its /tmp is a tmpfs of its own: the restore wakes it over the channel");

            ToolResult restore = await ToolRun.RunAsync("restore", image, "--require-label", "app=sample");
            Assert.AreEqual(0, restore.ExitCode, restore.ToString());
            restored = int.Parse(RestoredPid().Match(restore.Stdout).Groups[1].Value, CultureInfo.InvariantCulture);
            Assert.AreEqual($"{restored}\t1", NamespacePids(restored), "restored into a new pid namespace, as its pid 1");
            await ProcessRunner.WaitUntilAsync(
                () => ProcessRunner.ReadShared($"/proc/{restored}/root/tmp/out.log").Contains("generation=1", StringComparison.Ordinal), TimeSpan.FromSeconds(20),
                "the restored app ticking as generation 1 in its restored /tmp");
            ToolResult after = await ToolRun.RunAsync("status", restored.ToString(CultureInfo.InvariantCulture), "--format", "json");
            Assert.AreEqual(1, (int)JsonNode.Parse(after.Stdout)!["generation"]!, after.ToString());
        }
        finally
        {
            Kill(pid, restored);
            container.Kill(entireProcessTree: true);
            Directory.Delete(directory, recursive: true);
        }
    }

    [TestMethod]
    public async Task AnAppStartedByRunRestoresWhileItsOriginalPidIsTaken()
    {
        string directory = Directory.CreateTempSubdirectory("crac-pidns-").FullName;
        string output = Path.Combine(directory, "output.log");
        // No option: a pid namespace of its own is run's default where CAP_SYS_ADMIN allows it.
        using Process run = ProcessRunner.Start("dotnet", [Paths.Tool, "run", "--", "dotnet", Paths.SampleApp], output, null, null, ownSession: true);
        int pid = 0;
        int restored = 0;
        Process? squatter = null;
        try
        {
            await ProcessRunner.WaitUntilAsync(() => (pid = ProcessRunner.PidNamedByRun(ProcessRunner.ReadShared(output))) > 0, TimeSpan.FromSeconds(20), "run to name the app's pid");
            await ProcessRunner.WaitUntilAsync(() => ProcessRunner.ReadShared(output).Contains("tick 10 ", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "the app's ticks");
            Assert.AreEqual($"{pid}\t1", NamespacePids(pid));

            string image = Path.Combine(directory, "image");
            ToolResult checkpoint = await ToolRun.RunAsync("checkpoint", pid.ToString(CultureInfo.InvariantCulture), "--engine", "criu", "--image-dir", image);
            Assert.AreEqual(0, checkpoint.ExitCode, checkpoint.ToString());
            await ProcessRunner.WaitUntilAsync(() => !Directory.Exists($"/proc/{pid}"), TimeSpan.FromSeconds(10), "the original pid to be free");

            JsonNode metadata = JsonNode.Parse(File.ReadAllText(Path.Combine(image, "crac-image.json")))!;
            Assert.IsTrue((bool)metadata["ownPidNamespace"]! && (bool)metadata["ownMountNamespace"]!, metadata.ToJsonString());
            Assert.IsTrue((bool)metadata["sharedTemporaryDirectory"]!, "run's namespace keeps the host's root, so the restore hands over through the app's temp directory");

            squatter = TakePid(pid);
            ToolResult restore = await ToolRun.RunAsync("restore", image);

            Assert.AreEqual(0, restore.ExitCode, restore.ToString());
            restored = int.Parse(RestoredPid().Match(restore.Stdout).Groups[1].Value, CultureInfo.InvariantCulture);
            Assert.AreNotEqual(pid, restored, "the original pid is another process's; the restore made a new pid namespace");
            Assert.IsTrue(ProcessRunner.IsAlive(pid), "the process holding the original pid is untouched");
            await ProcessRunner.WaitUntilAsync(() => ProcessRunner.ReadShared(output).Contains("generation=1", StringComparison.Ordinal), TimeSpan.FromSeconds(20), "the restored app's ticks");
        }
        finally
        {
            squatter?.Kill();
            squatter?.Dispose();
            Kill(pid, restored);
            run.Kill(entireProcessTree: true);
            Directory.Delete(directory, recursive: true);
        }
    }

    [TestMethod]
    public async Task AnAppThatIsPid1UnderRunStillStopsOnSigtermAndRunPassesOnItsExitCode()
    {
        string directory = Directory.CreateTempSubdirectory("crac-pid1term-").FullName;
        string output = Path.Combine(directory, "output.log");
        using Process run = ProcessRunner.Start("dotnet", [Paths.Tool, "run", "--", "dotnet", Paths.SampleApp], output, null, null, ownSession: true);
        try
        {
            int pid = await ProcessRunner.WaitForReadyPidAsync(output, "the app under run");
            Assert.AreEqual($"{pid}\t1", NamespacePids(pid), "the app is pid 1 of its own pid namespace");
            ToolResult status = await ToolRun.RunAsync("status", pid.ToString(CultureInfo.InvariantCulture));
            Assert.AreEqual(0, status.ExitCode, "the agent answers: it has started " + status);

            // A plain console app as pid 1 would ignore SIGTERM (the kernel drops what pid 1 does not handle).
            Process.Start("kill", ["-TERM", pid.ToString(CultureInfo.InvariantCulture)])!.WaitForExit();
            Assert.IsTrue(run.WaitForExit(TimeSpan.FromSeconds(10)), $"the app stops on SIGTERM, and run with it:\n{ProcessRunner.ReadShared(output)}");
            Assert.AreEqual(143, run.ExitCode, "128 + SIGTERM, as a shell reports an app that SIGTERM ended");
        }
        finally
        {
            run.Kill(entireProcessTree: true);
            Directory.Delete(directory, recursive: true);
        }
    }

    [TestMethod]
    public async Task WithoutCapSysAdminRunSharesItsPidNamespaceAndSaysSoAndOwnIsRefused()
    {
        string directory = Directory.CreateTempSubdirectory("crac-nocap-").FullName;
        string output = Path.Combine(directory, "output.log");
        // setpriv drops CAP_SYS_ADMIN from the bounding set, so the tool (root) runs without it.
        string[] withoutSysAdmin = ["--bounding-set=-sys_admin", "--inh-caps=-sys_admin", "dotnet", Paths.Tool, "run"];
        using Process run = ProcessRunner.Start("setpriv", [.. withoutSysAdmin, "--", "dotnet", Paths.SampleApp], output, null, null, ownSession: true);
        try
        {
            int pid = await ProcessRunner.WaitForReadyPidAsync(output, "the app under run without CAP_SYS_ADMIN");
            StringAssert.Contains(ProcessRunner.ReadShared(output), "dotnet-crac: the app shares this pid namespace (a pid namespace needs CAP_SYS_ADMIN, which this process lacks)");
            Assert.AreEqual(new FileInfo("/proc/self/ns/pid").LinkTarget, new FileInfo($"/proc/{pid}/ns/pid").LinkTarget, "the app shares the pid namespace");

            string ownOutput = Path.Combine(directory, "own.log");
            string ownErrors = Path.Combine(directory, "own.err");
            using Process own = ProcessRunner.Start("setpriv", [.. withoutSysAdmin, "--pid-namespace", "own", "--", "dotnet", Paths.SampleApp], ownOutput, ownErrors, null);
            Assert.IsTrue(own.WaitForExit(TimeSpan.FromSeconds(30)), "run --pid-namespace own without the capability ends at once");
            Assert.AreEqual(7, own.ExitCode, ProcessRunner.ReadShared(ownErrors));
            StringAssert.Contains(ProcessRunner.ReadShared(ownErrors), "--pid-namespace own: a pid namespace needs CAP_SYS_ADMIN");
            Assert.IsFalse(ProcessRunner.ReadShared(ownOutput).Contains("ready pid=", StringComparison.Ordinal), "no app was started");
        }
        finally
        {
            run.Kill(entireProcessTree: true);
            Directory.Delete(directory, recursive: true);
        }
    }

    [TestMethod]
    public async Task ARestoreInTheForegroundForwardsSignalsAndExitsWithTheAppsExitCode()
    {
        using SampleProcess app = await SampleProcess.StartAsync(["--exit-code", "7"]);
        await app.WaitForOutputAsync("tick 10 ");
        string image = Path.Combine(app.Directory, "image");
        ToolResult checkpoint = await ToolRun.RunAsync("checkpoint", app.Pid.ToString(CultureInfo.InvariantCulture), "--engine", "criu", "--image-dir", image);
        Assert.AreEqual(0, checkpoint.ExitCode, checkpoint.ToString());
        await app.WaitForExitAsync();

        string output = Path.Combine(app.Directory, "foreground.log");
        using Process supervisor = ProcessRunner.Start("dotnet", [Paths.Tool, "restore", image, "--foreground"], output, null, null, ownSession: true);
        // The app's first line after the restore and the supervisor's report come in either order.
        await ProcessRunner.WaitUntilAsync(
            () => ProcessRunner.ReadShared(output) is var text && text.Contains("generation=1", StringComparison.Ordinal) && text.Contains("Restored process", StringComparison.Ordinal) || supervisor.HasExited,
            TimeSpan.FromSeconds(30), () => "the restored app and the supervisor writing to the supervisor's stdout:\n" + ProcessRunner.ReadShared(output));
        Assert.IsFalse(supervisor.HasExited, "the supervisor stays while the app runs:\n" + ProcessRunner.ReadShared(output));
        StringAssert.Contains(ProcessRunner.ReadShared(output), $"Restored process {app.Pid} (SampleApp)");

        // SIGINT (Ctrl+C) ends the app's loop, and it exits with the code it was given; the supervisor passes both on.
        using (Process? interrupt = Process.Start("kill", ["-INT", supervisor.Id.ToString(CultureInfo.InvariantCulture)]))
        {
            interrupt?.WaitForExit(5000);
        }

        Assert.IsTrue(supervisor.WaitForExit(15_000), "SIGINT reached the app through the supervisor, which then ended:\n" + ProcessRunner.ReadShared(output));
        await ProcessRunner.WaitUntilAsync(() => !ProcessRunner.IsAlive(app.Pid), TimeSpan.FromSeconds(5), "the restored app to have exited");
        Assert.AreEqual(7, supervisor.ExitCode, ProcessRunner.ReadShared(output));
        StringAssert.Contains(ProcessRunner.ReadShared(output), $"The restored process {app.Pid} exited with code 7.");
        StringAssert.Matches(
            ProcessRunner.ReadShared(output),
            new Regex(@"Image verified against its manifest: \d+ files, [^;]+ in [^;]+, before CRIU ran\."), "a small image's pages are checked before CRIU (--check-pages auto)");
    }

    [TestMethod]
    public async Task AnImageIsVerifiedLabelledInspectedAndStartedColdWhenItCannotBeUsed()
    {
        using SampleProcess app = await SampleProcess.StartAsync();
        await app.WaitForOutputAsync("tick 10 ");
        string image = Path.Combine(app.Directory, "image");
        ToolResult checkpoint = await ToolRun.RunAsync("checkpoint", app.Pid.ToString(CultureInfo.InvariantCulture), "--engine", "criu", "--image-dir", image, "--label", "tier=web", "--label", "release=7");
        Assert.AreEqual(0, checkpoint.ExitCode, checkpoint.ToString());
        await app.WaitForExitAsync();

        ToolResult inspect = await ToolRun.RunAsync("inspect", image, "--format", "json");
        Assert.AreEqual(0, inspect.ExitCode, inspect.ToString());
        JsonNode report = JsonNode.Parse(inspect.Stdout)!;
        Assert.AreEqual("web", (string?)report["image"]!["labels"]!["tier"]);
        StringAssert.StartsWith((string?)report["image"]!["createdBy"], "dotnet-crac ");
        Assert.AreEqual("Verified", (string?)report["manifest"]!["status"]);
        Dictionary<string, long> kinds = report["memory"]!.AsArray().ToDictionary(k => (string)k!["kind"]!, k => (long)k!["bytes"]!);
        CollectionAssert.AreEquivalent(new[] { "gc-heap", "jit-code", "native-heap", "memfd-double-mapper", "other" }, kinds.Keys.ToArray());
        Assert.IsTrue(kinds["gc-heap"] > 0 && kinds["native-heap"] > 0 && kinds["memfd-double-mapper"] > 0, inspect.Stdout);
        Assert.AreEqual((long)report["image"]!["pageBytes"]!, kinds.Values.Sum(), "every page is of one kind");
        ToolResult text = await ToolRun.RunAsync("inspect", image);
        StringAssert.Matches(text.Stdout, new Regex(@"Manifest:\s+verified: \d+ files"));
        StringAssert.Contains(text.Stdout, "Labels:         release=7, tier=web");

        // A truncated pages file: refused before CRIU runs, fast, naming the file.
        string truncated = CopyImage(image, Path.Combine(app.Directory, "truncated"));
        string pages = ImageFiles.LargestPages(truncated);
        using (var file = new FileStream(pages, FileMode.Open))
        {
            file.SetLength(4096);
        }

        ToolResult refused = await ToolRun.RunAsync("restore", truncated);
        Assert.AreEqual(13, refused.ExitCode, refused.ToString());
        StringAssert.Contains(refused.Stderr, $"{Path.GetFileName(pages)} is 4,096 bytes");
        Assert.IsFalse(File.Exists(Path.Combine(truncated, "restore.log")), "CRIU never ran");
        Assert.IsTrue(refused.Elapsed < TimeSpan.FromSeconds(3), $"refused in {refused.Elapsed.TotalMilliseconds:0} ms, tool start-up included");

        // A changed byte, the size the same: the SHA-256 tells.
        string changed = CopyImage(image, Path.Combine(app.Directory, "changed"));
        string core = Directory.GetFiles(changed, "core-*.img").First();
        byte[] bytes = File.ReadAllBytes(core);
        bytes[^1] ^= 0xFF;
        File.WriteAllBytes(core, bytes);
        ToolResult tampered = await ToolRun.RunAsync("restore", changed);
        Assert.AreEqual(13, tampered.ExitCode, tampered.ToString());
        StringAssert.Contains(tampered.Stderr, $"{Path.GetFileName(core)} does not match its SHA-256");
        Assert.IsFalse(File.Exists(Path.Combine(changed, "restore.log")), "a file CRIU parses is checked before CRIU runs");

        // A changed byte in the middle of the memory pages, the size the same. This image is small, so
        // by default its pages are hashed before CRIU starts, and CRIU never runs.
        string changedPages = CopyImage(image, Path.Combine(app.Directory, "changed-pages"));
        string pagesFile = ImageFiles.LargestPages(changedPages);
        ImageFiles.FlipMiddleByte(pagesFile);
        ToolResult checkedFirst = await ToolRun.RunAsync("restore", changedPages);
        Assert.AreEqual(13, checkedFirst.ExitCode, checkedFirst.ToString());
        StringAssert.Contains(checkedFirst.Stderr, $"Refusing to restore {changedPages}: {Path.GetFileName(pagesFile)} does not match its SHA-256 in the manifest");
        Assert.IsFalse(File.Exists(Path.Combine(changedPages, "restore.log")), "a small image's pages are checked before CRIU runs");

        // With --check-pages during (auto's choice for a large or lazy image) they are hashed while
        // CRIU restores, and its action script refuses to let the process resume, so CRIU kills it.
        // Detached and supervised (--foreground) alike.
        foreach (string[] how in new[] { Array.Empty<string>(), ["--foreground"] })
        {
            ToolResult pagesRefused = await ToolRun.RunAsync(["restore", changedPages, "--check-pages", "during", .. how]);
            Assert.AreEqual(13, pagesRefused.ExitCode, pagesRefused.ToString());
            StringAssert.Contains(pagesRefused.Stderr, $"Refusing to restore {changedPages}: {Path.GetFileName(pagesFile)} does not match its SHA-256 in the manifest");
            string criuLog = File.ReadAllText(Path.Combine(changedPages, "restore.log"));
            StringAssert.Contains(criuLog, "dotnet-crac: the image's memory pages do not match its manifest: the restored process is not resumed", "CRIU ran, and its action script said no");
            StringAssert.Contains(criuLog, "Aborting restore due to post-restore script");
            await ProcessRunner.WaitUntilAsync(() => !Directory.Exists($"/proc/{app.Pid}"), TimeSpan.FromSeconds(10), $"the restored pid {app.Pid} to be gone");
            Assert.AreEqual(0, ProcessRunner.FindByCommandLine("dotnet", app.ReportFile), "no process restored from the image is left");
        }

        ToolResult unlabelled = await ToolRun.RunAsync("restore", image, "--require-label", "tier=db");
        Assert.AreEqual(18, unlabelled.ExitCode, unlabelled.ToString());
        StringAssert.Contains(unlabelled.Stderr, "tier=db (the image has tier=web)");

        // --or-start: the image with changed pages cannot be used, so the app starts cold, detached, saying why.
        string coldOutput = Path.Combine(app.Directory, "cold.log");
        ToolResult cold = await ToolRun.RunAsync("restore", changedPages, "--or-start", "--output", coldOutput, "--format", "json", "--", "dotnet", Paths.SampleApp);
        Assert.AreEqual(17, cold.ExitCode, cold.ToString());
        JsonNode started = JsonNode.Parse(cold.Stdout)!;
        Assert.AreEqual("cold-start", (string?)started["path"]);
        Assert.AreEqual(13, (int)started["reasonCode"]!);
        StringAssert.Contains((string?)started["reason"], $"{Path.GetFileName(pagesFile)} does not match its SHA-256");
        int coldPid = (int)started["pid"]!;
        try
        {
            await ProcessRunner.WaitUntilAsync(() => ProcessRunner.ReadShared(coldOutput).Contains("ready pid=", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "the cold-started app");
            Assert.IsTrue(TargetHasAgent(coldPid), "the cold start loads the agent, so it can be checkpointed later");
        }
        finally
        {
            Kill(coldPid);
        }

        // The intact image restores, labels met, and the report says it was verified.
        ToolResult restore = await ToolRun.RunAsync("restore", image, "--require-label", "tier=web", "--check-pages", "during", "--format", "json");
        Assert.AreEqual(0, restore.ExitCode, restore.ToString());
        JsonNode restoredReport = JsonNode.Parse(restore.Stdout)!;
        Assert.AreEqual("restored", (string?)restoredReport["path"]);
        Assert.AreEqual("Verified", (string?)restoredReport["manifest"]!["status"]);
        JsonNode duringRestore = restoredReport["manifest"]!["duringRestore"]!;
        Assert.AreEqual(Directory.GetFiles(image, "pages-*.img").Length, (int)duringRestore["files"]!, restore.Stdout);
        Assert.AreEqual(Directory.GetFiles(image, "pages-*.img").Sum(f => new FileInfo(f).Length), (long)duringRestore["bytes"]!);
        Assert.IsTrue((double)restoredReport["manifest"]!["milliseconds"]! >= (double)duringRestore["milliseconds"]!, restore.Stdout);
        Kill(app.Pid);
    }

    [TestMethod]
    public async Task TheContainerRecipeRestoresTheWarmServiceAsItsEntrypointAndStartsItColdFromADamagedImage()
    {
        string work = Path.Combine(Paths.RepositoryRoot, "artifacts", "container-recipe-test");
        string log = Path.Combine(Paths.RepositoryRoot, "artifacts", "container-recipe-test.log");
        File.Delete(log);
        using Process recipe = ProcessRunner.Start(
            "bash", [Path.Combine(Paths.RepositoryRoot, "deploy", "container", "recipe.sh"), work], log, null,
            new Dictionary<string, string?> { ["CONFIGURATION"] = Paths.Configuration, ["PORT"] = Loopback.FreePort().ToString(CultureInfo.InvariantCulture) });
        using var cancellation = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        await recipe.WaitForExitAsync(cancellation.Token);
        string output = ProcessRunner.ReadShared(log);

        Assert.AreEqual(0, recipe.ExitCode, output);
        string[] paths = [.. Regex.Matches(output, @"^path=(\S+)$", RegexOptions.Multiline).Select(m => m.Groups[1].Value)];
        CollectionAssert.AreEqual(new[] { "restored", "cold-start" }, paths, output);
        StringAssert.Matches(output, new Regex(@"it answers: hello from 1, generation 1, request 5\d"), "the restored service kept its warm state (50 warm-up requests):\n" + output);
        StringAssert.Matches(output, new Regex(@"it answers: hello from \d+, generation 0, request 1\n"), "the cold start is a fresh service:\n" + output);
        StringAssert.Contains(output, "is 4,096 bytes, and was");
    }

    /// <summary>Copies an image as an operator would (cp -a): private, owned by us.</summary>
    private static string CopyImage(string image, string copy)
    {
        Directory.CreateDirectory(copy, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        foreach (string file in Directory.GetFiles(image))
        {
            File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
            File.SetUnixFileMode(Path.Combine(copy, Path.GetFileName(file)), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        return copy;
    }

    /// <summary>Starts a process that gets exactly <paramref name="pid"/> (through ns_last_pid, as root may), retrying if another process took it first.</summary>
    private static Process TakePid(int pid)
    {
        for (int attempt = 0; attempt < 20; attempt++)
        {
            File.WriteAllText("/proc/sys/kernel/ns_last_pid", (pid - 1).ToString(CultureInfo.InvariantCulture));
            Process sleeper = Process.Start("sleep", "120");
            if (sleeper.Id == pid)
            {
                return sleeper;
            }

            sleeper.Kill();
            sleeper.Dispose();
        }

        throw new InvalidOperationException($"Could not start a process with pid {pid} to occupy it.");
    }

    private static string NamespacePids(int pid) =>
        File.ReadLines($"/proc/{pid}/status").Single(l => l.StartsWith("NSpid:", StringComparison.Ordinal))["NSpid:".Length..].Trim();

    private static bool TargetHasAgent(int pid) =>
        File.ReadAllText($"/proc/{pid}/maps").Contains("Crac.Agent.dll", StringComparison.Ordinal);

    private static void Kill(params int[] pids)
    {
        foreach (int pid in pids.Where(p => p > 0 && ProcessRunner.IsAlive(p)))
        {
            using Process? kill = Process.Start("kill", ["-9", pid.ToString(CultureInfo.InvariantCulture)]);
            kill?.WaitForExit(5000);
        }
    }

    [GeneratedRegex(@"Restored process (\d+) ")]
    private static partial Regex RestoredPid();
}
