using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Crac.EndToEnd.Tests.Infrastructure;

namespace Crac.EndToEnd.Tests;

/// <summary>File-descriptor checks, policies and origins on real processes.</summary>
[TestClass]
public sealed class FileDescriptorTests
{
    [TestMethod]
    public async Task EachDescriptorGetsCriusVerdictAndOnlyWhatCriuRefusesOrWouldBreakFailsWithItsOwnExceptionAndFix()
    {
        int port = FreePort();
        string directory = Directory.CreateTempSubdirectory("crac-leaks-").FullName;
        using SampleProcess app = await SampleProcess.StartAsync(
        [
            "--leak-file", Path.Combine(directory, "leaked.txt"), "--leak-listener", port.ToString(), "--leak-connection",
            "--leak-pipe", "--leak-native", Path.Combine(directory, "native.txt"),
        ]);

        ToolResult fds = await ToolRun.RunAsync("fds", app.Pid.ToString(), "--format", "json");
        ToolResult checkpoint = await ToolRun.RunAsync("checkpoint", app.Pid.ToString());

        Assert.AreEqual(0, fds.ExitCode, fds.ToString());
        JsonElement[] all = JsonDocument.Parse(fds.Stdout).RootElement.GetProperty("fds").EnumerateArray().ToArray();
        JsonElement Fd(Func<JsonElement, bool> predicate) => all.Single(predicate);
        string Socket(JsonElement fd) => fd.TryGetProperty("socket", out JsonElement s) ? s.GetString()! : string.Empty;
        (bool Blocking, string Action, string Reason) Verdict(JsonElement fd) =>
            (fd.GetProperty("blocking").GetBoolean(), fd.GetProperty("action").GetString()!, fd.GetProperty("reason").GetString()!);
        (bool Blocking, string Action) Handling(JsonElement fd) => (Verdict(fd).Blocking, Verdict(fd).Action);

        // A FileStream writing holds a shared flock: CRIU would need --file-locks, which takes write locks along as they are.
        (bool blocking, string action, string reason) = Verdict(Fd(fd => fd.GetProperty("target").GetString()!.EndsWith("leaked.txt")));
        Assert.IsTrue(blocking);
        StringAssert.StartsWith(reason, "holds a shared flock on a file open for writing");
        // A file without a lock CRIU reopens by path.
        Assert.AreEqual((false, "none"), Handling(Fd(fd => fd.GetProperty("target").GetString()!.EndsWith("native.txt"))));
        Assert.AreEqual((false, "keep-listening"), Handling(Fd(fd => Socket(fd) == $"tcp 127.0.0.1:{port} listening")));
        Assert.AreEqual((false, "close-inbound"), Handling(Fd(fd => Socket(fd).StartsWith($"tcp 127.0.0.1:{port} ->"))));
        JsonElement outbound = Fd(fd => Socket(fd).EndsWith($"-> 127.0.0.1:{port}"));
        Assert.IsTrue(outbound.GetProperty("blocking").GetBoolean());
        StringAssert.Contains(outbound.GetProperty("fix").GetString(), "AddCrac() does it for HttpClient, Npgsql and StackExchange.Redis");
        StringAssert.StartsWith(Verdict(Fd(fd => fd.GetProperty("kind").GetString() == "pipe" && fd.GetProperty("reason").GetString()!.Contains("child"))).Reason, "a pipe to child process ");
        Assert.AreEqual(2, all.Count(fd => fd.GetProperty("blocking").GetBoolean()), fds.Stdout);

        Assert.AreEqual(2, checkpoint.ExitCode, checkpoint.ToString());
        StringAssert.Matches(checkpoint.Stderr, new System.Text.RegularExpressions.Regex(
            @"Suppressed: Crac\.CheckpointOpenFileException: FileDescriptor \d+ left open: \S+leaked\.txt \(regular, mode w, position \d+\): holds a shared flock on a file open for writing.*\. Fix: close it in a resource's BeforeCheckpointAsync, or let the checkpoint close it and reopen it after the restore"));
        StringAssert.Contains(checkpoint.Stderr, $"Suppressed: Crac.CheckpointOpenSocketException: Socket fd=");
        StringAssert.Contains(checkpoint.Stderr, $"-> 127.0.0.1:{port}: an outbound connection to 127.0.0.1:{port}: its owner still thinks it open");
        Assert.AreEqual(2, System.Text.RegularExpressions.Regex.Matches(checkpoint.Stderr, @"\tSuppressed: Crac\.CheckpointOpen").Count, checkpoint.Stderr);
        StringAssert.Contains(checkpoint.Stderr, "Set CRAC_COLLECT_FD_STACKTRACES=true to record where it was opened.");
        Assert.IsTrue(app.IsAlive);
        Directory.Delete(directory, recursive: true);
    }

    [TestMethod]
    public async Task ADescriptorInheritedFromTheParentIsReportedAsInherited()
    {
        // The agent notes the inherited fds at start-up (one poll over every number, then their
        // inodes), before the application opens any.
        string directory = Directory.CreateTempSubdirectory("crac-inherited-").FullName;
        string handedDown = Path.Combine(directory, "handed-down.txt");
        File.WriteAllText(handedDown, "from the parent");
        using SampleProcess app = await SampleProcess.StartAsync(inheritedFile: handedDown);

        ToolResult fds = await ToolRun.RunAsync("fds", app.Pid.ToString(), "--format", "json");

        Assert.AreEqual(0, fds.ExitCode, fds.ToString());
        JsonElement[] all = JsonDocument.Parse(fds.Stdout).RootElement.GetProperty("fds").EnumerateArray().ToArray();
        JsonElement inherited = all.Single(fd => fd.GetProperty("fd").GetInt32() == SampleProcess.InheritedFd);
        StringAssert.EndsWith(inherited.GetProperty("target").GetString(), "handed-down.txt", fds.Stdout);
        Assert.AreEqual("inherited from the parent process (no close-on-exec)", inherited.GetProperty("reason").GetString(), fds.Stdout);
    }

    [TestMethod]
    public async Task TheAppsOwnStatusInItsFirstMillisecondsAlreadySeesABlockingDescriptor()
    {
        // The agent leaves its first 200 ms to the application; Core.Status has it install its
        // fd checks at once, so an early verdict is not "Ready" for an image CRIU would refuse.
        string directory = Directory.CreateTempSubdirectory("crac-early-status-").FullName;
        using SampleProcess app = await SampleProcess.StartAsync(["--leak-file", Path.Combine(directory, "held.txt"), "--self-checkpoint"]);

        await app.WaitForOutputAsync("self-checkpoint status:");

        StringAssert.Contains(app.Output, "self-checkpoint status: ReadyLater: 1 file descriptor(s) would block a checkpoint");
    }

    [TestMethod]
    public async Task TheRuntimesOwnDescriptorsOfAConsoleAppAreNeverFlagged()
    {
        using SampleProcess app = await SampleProcess.StartAsync(["--leak-pipe"], agent: true);
        // Console, signals and Process were all used: libSystem.Native has opened its extra fds.
        ToolResult fds = await ToolRun.RunAsync("fds", app.Pid.ToString(), "--format", "json");

        JsonElement[] all = JsonDocument.Parse(fds.Stdout).RootElement.GetProperty("fds").EnumerateArray().ToArray();
        Assert.IsEmpty(all.Where(fd => fd.GetProperty("blocking").GetBoolean()), fds.Stdout);
        foreach (string reason in new[] { "the runtime's W^X double mapping (memfd:doublemapper)", "the runtime's diagnostics server (dotnet-crac's channel)", "an assembly the runtime loaded", "the runtime's random source" })
        {
            Assert.IsTrue(all.Any(fd => fd.GetProperty("reason").GetString() == reason), $"expected a runtime fd with reason '{reason}':\n{fds.Stdout}");
        }
    }

    [TestMethod]
    public async Task AnAspNetAppBlocksNothingItsListenerIsKeptAndItsKeepAliveConnectionClosed()
    {
        int port = FreePort();
        using SampleProcess web = await SampleProcess.StartWebAsync(port);
        using var http = new HttpClient();
        Assert.StartsWith("hello from", await http.GetStringAsync($"http://127.0.0.1:{port}/"));
        await Task.Delay(500);

        ToolResult fds = await ToolRun.RunAsync("fds", web.Pid.ToString(), "--format", "json");
        ToolResult status = await ToolRun.RunAsync("status", web.Pid.ToString());

        JsonElement[] all = JsonDocument.Parse(fds.Stdout).RootElement.GetProperty("fds").EnumerateArray().ToArray();
        Assert.IsEmpty(all.Where(fd => fd.GetProperty("blocking").GetBoolean()), fds.Stdout);
        Assert.IsTrue(all.Any(fd => fd.GetProperty("action").GetString() == "keep-listening" && fd.GetProperty("socket").GetString() == $"tcp 127.0.0.1:{port} listening"), fds.Stdout);
        Assert.IsTrue(all.Any(fd => fd.GetProperty("action").GetString() == "close-inbound" && fd.GetProperty("socket").GetString()!.StartsWith($"tcp 127.0.0.1:{port} ->")), fds.Stdout);
        Assert.IsTrue(all.Any(fd => fd.GetProperty("kind").GetString() == "inotify" && !fd.GetProperty("blocking").GetBoolean()), fds.Stdout);
        Assert.IsTrue(all.Any(fd => fd.GetProperty("kind").GetString() == "epoll" && !fd.GetProperty("blocking").GetBoolean()), fds.Stdout);
        StringAssert.Contains(status.Stdout, "Checkpointable:       Ready\n", "status says what a dry run would");
        StringAssert.Contains(status.Stdout, "Blocking fds:         0\n");
    }

    [TestMethod]
    public async Task StatusSaysReadyOnlyWhenADryRunWouldPassAndNamesTheFirstBlockingDescriptor()
    {
        string directory = Directory.CreateTempSubdirectory("crac-status-").FullName;
        using SampleProcess app = await SampleProcess.StartAsync(["--leak-file", Path.Combine(directory, "held.txt")]);

        ToolResult status = await ToolRun.RunAsync("status", app.Pid.ToString());
        ToolResult dryRun = await ToolRun.RunAsync("checkpoint", app.Pid.ToString(), "--engine", "criu", "--dry-run");

        Assert.AreEqual(0, status.ExitCode, status.ToString());
        StringAssert.Contains(status.Stdout, "Checkpointable:       ReadyLater: 1 file descriptor(s) would block a checkpoint; the first: fd ");
        StringAssert.Contains(status.Stdout, "held.txt): holds a shared flock on a file open for writing");
        StringAssert.Contains(status.Stdout, "Blocking fds:         1 (dotnet crac fds");
        Assert.AreEqual(2, dryRun.ExitCode, "the dry run agrees with status:\n" + dryRun);
        Directory.Delete(directory, recursive: true);
    }

    [TestMethod]
    public async Task TheOperatorsPoliciesGoAheadOfTheAppsForOneCommandAndAMalformedFileIsRefusedBeforeAnythingIsSent()
    {
        string directory = Directory.CreateTempSubdirectory("crac-operator-").FullName;
        string appPolicies = Path.Combine(directory, "app.yaml");
        string operatorPolicies = Path.Combine(directory, "operator.yaml");
        string malformed = Path.Combine(directory, "malformed.yaml");
        File.WriteAllText(appPolicies, "type: file\npath: **/held.txt\naction: error\n");
        File.WriteAllText(operatorPolicies, "# for this checkpoint only\ntype: file\npath: **/held.txt\naction: ignore\nwarn: false\n");
        File.WriteAllText(malformed, "type: file\naction: vanish\n");
        using SampleProcess app = await SampleProcess.StartAsync(
            ["--leak-file", Path.Combine(directory, "held.txt")], environment: new Dictionary<string, string?> { ["CRAC_RESOURCE_POLICIES"] = appPolicies });

        ToolResult bad = await ToolRun.RunAsync("checkpoint", app.Pid.ToString(), "--policies", malformed);
        ToolResult fds = await ToolRun.RunAsync("fds", app.Pid.ToString(), "--policies", operatorPolicies);
        ToolResult withOperators = await ToolRun.RunAsync("checkpoint", app.Pid.ToString(), "--policies", operatorPolicies);
        ToolResult withoutThem = await ToolRun.RunAsync("checkpoint", app.Pid.ToString());
        ToolResult status = await ToolRun.RunAsync("status", app.Pid.ToString());

        Assert.AreEqual(1, bad.ExitCode, bad.ToString());
        StringAssert.Contains(bad.Stderr, $"Resource policies file {malformed}, line 2: unknown action 'vanish'");
        StringAssert.Contains(bad.Stderr, "Nothing was sent to the process");
        StringAssert.Contains(fds.Stdout, $"Resource policies: {operatorPolicies}, then {appPolicies}");
        StringAssert.Matches(fds.Stdout, new System.Text.RegularExpressions.Regex(@"OK\s+\S+held\.txt\s+holds a shared flock[^\n]*; policy rule 1 of \S+operator\.yaml \(line 2\): ignore"));
        Assert.AreEqual(0, withOperators.ExitCode, withOperators.ToString());
        StringAssert.Contains(withOperators.Stdout, $"held.txt): policy rule 1 of {operatorPolicies} (line 2): ignore");
        Assert.AreEqual(2, withoutThem.ExitCode, "the operator's rules held for that checkpoint only:\n" + withoutThem);
        StringAssert.Contains(withoutThem.Stderr, $"policy rule 1 of {appPolicies} (line 1): error");
        StringAssert.Contains(status.Stdout, "Last checkpoint:      failed", "the malformed file reached nothing: the last checkpoint is the one without the operator's rules");
        Directory.Delete(directory, recursive: true);
    }

    [TestMethod]
    public async Task IgnoreAndErrorRulesApplyFirstMatchFirstAndWarnUnlessToldNotTo()
    {
        string directory = Directory.CreateTempSubdirectory("crac-policy-").FullName;
        string policies = Path.Combine(directory, "policies.yaml");
        File.WriteAllText(policies,
            "type: file\npath: **/quiet.txt\naction: ignore\nwarn: false\n---\ntype: file\npath: **/*.txt\naction: ignore\n---\ntype: file\naction: error\n");
        using SampleProcess app = await SampleProcess.StartAsync(
            ["--leak-file", Path.Combine(directory, "loud.txt"), "--leak-native", Path.Combine(directory, "quiet.txt"), "--append-log", Path.Combine(directory, "app.log")],
            environment: new Dictionary<string, string?> { ["CRAC_RESOURCE_POLICIES"] = policies });

        ToolResult fds = await ToolRun.RunAsync("fds", app.Pid.ToString());
        ToolResult checkpoint = await ToolRun.RunAsync("checkpoint", app.Pid.ToString());

        StringAssert.Contains(fds.Stdout, $"Resource policies: {policies}");
        StringAssert.Matches(fds.Stdout, new System.Text.RegularExpressions.Regex(@"OK\s+\S+loud\.txt\s+holds a shared flock [^\n]*; policy rule 2 of \S+ \(line 6\): ignore"));
        StringAssert.Matches(fds.Stdout, new System.Text.RegularExpressions.Regex(@"OK\s+\S+quiet\.txt\s+CRIU reopens it by path[^\n]*; policy rule 1 of \S+ \(line 1\): ignore"));
        StringAssert.Matches(fds.Stdout, new System.Text.RegularExpressions.Regex(@"BAD\s+\S+app\.log\s+holds a shared flock [^\n]*; policy rule 3 of \S+ \(line 10\): error"));
        Assert.AreEqual(2, checkpoint.ExitCode, checkpoint.ToString());
        StringAssert.Contains(checkpoint.Stderr, "app.log");
        Assert.IsFalse(checkpoint.Stderr.Contains("loud.txt"), checkpoint.Stderr);
        await app.WaitForOutputAsync("crac: warning: fd ");
        StringAssert.Contains(app.Output, $"loud.txt) is open at checkpoint; policy rule 2 of {policies} (line 6): ignore.");
        Assert.IsFalse(app.Output.Contains("quiet.txt) is open at checkpoint"), "warn: false silences the warning");
        Directory.Delete(directory, recursive: true);
    }

    [TestMethod]
    public async Task ReopenPutsAnAppendingLogBackAtTheSameNumberAndPositionAfterRestore()
    {
        string directory = Directory.CreateTempSubdirectory("crac-reopen-").FullName;
        string policies = Path.Combine(directory, "policies.yaml");
        string log = Path.Combine(directory, "app.log");
        File.WriteAllText(policies, "type: file\npath: **/app.log\naction: reopen\nwarn: false\n");
        using SampleProcess app = await SampleProcess.StartAsync(["--append-log", log], environment: new Dictionary<string, string?> { ["CRAC_RESOURCE_POLICIES"] = policies });
        int fd = LogDescriptor(app.Pid, log);
        await Task.Delay(500);

        ToolResult checkpoint = await ToolRun.RunAsync("checkpoint", app.Pid.ToString());
        await Task.Delay(700);

        Assert.AreEqual(0, checkpoint.ExitCode, checkpoint.ToString());
        Assert.AreEqual(fd, LogDescriptor(app.Pid, log), "the same descriptor number, so the FileStream's SafeFileHandle is still valid");
        AssertContinuousTicks(ReadLines(log));
        Directory.Delete(directory, recursive: true);
    }

    [TestMethod]
    public async Task ReopenWorksAcrossARealCriuRestoreAndThePoliciesAreReadAgainThere()
    {
        string directory = Directory.CreateTempSubdirectory("crac-reopen-criu-").FullName;
        string reopen = Path.Combine(directory, "reopen.yaml");
        string close = Path.Combine(directory, "close.yaml");
        string log = Path.Combine(directory, "app.log");
        string secondLog = Path.Combine(directory, "second.log");
        File.WriteAllText(reopen, "type: file\npath: **/*.log\naction: reopen\nwarn: false\n");
        File.WriteAllText(close, "type: file\npath: **/second.log\naction: close\nwarn: false\n---\ntype: file\npath: **/*.log\naction: reopen\nwarn: false\n");
        using SampleProcess app = await SampleProcess.StartAsync(
            ["--append-log", log, "--leak-file", secondLog], environment: new Dictionary<string, string?> { ["CRAC_RESOURCE_POLICIES"] = reopen });
        int fd = LogDescriptor(app.Pid, log);
        int secondFd = LogDescriptor(app.Pid, secondLog);
        string image = Path.Combine(app.Directory, "image");
        await Task.Delay(500);

        ToolResult checkpoint = await ToolRun.RunAsync("checkpoint", app.Pid.ToString(), "--engine", "criu", "--image-dir", image);
        await app.WaitForExitAsync();
        int linesWhileGone = ReadLines(log).Length;
        await Task.Delay(300);
        Assert.AreEqual(linesWhileGone, ReadLines(log).Length, "nothing writes while the process is an image");
        // The restore sees another policy file: second.log is now to be closed, not reopened.
        ToolResult restore = await ToolRun.RunAsync(["restore", image], new Dictionary<string, string?> { ["CRAC_RESOURCE_POLICIES"] = close });
        await Task.Delay(700);

        Assert.AreEqual(0, checkpoint.ExitCode, checkpoint.ToString());
        Assert.AreEqual(0, restore.ExitCode, restore.ToString());
        Assert.AreEqual(fd, LogDescriptor(app.Pid, log));
        Assert.IsTrue(ReadLines(log).Length > linesWhileGone, "the restored process appends again");
        AssertContinuousTicks(ReadLines(log));
        Assert.AreEqual("/", new FileInfo($"/proc/{app.Pid}/fd/{secondFd}").LinkTarget, "closed for good after restore: an O_PATH placeholder keeps the number");

        // The log was closed in the image, so it can grow and the image still restores.
        app.Kill();
        await ProcessRunner.WaitUntilAsync(() => !Directory.Exists($"/proc/{app.Pid}"), TimeSpan.FromSeconds(10), "the restored process to go");
        ToolResult again = await ToolRun.RunAsync(["restore", image], new Dictionary<string, string?> { ["CRAC_RESOURCE_POLICIES"] = reopen });
        Assert.AreEqual(0, again.ExitCode, again.ToString());
        Directory.Delete(directory, recursive: true);
    }

    [TestMethod]
    public async Task AMalformedPolicyFileFailsTheCheckpointNamingTheLineAndNeverCrashesTheApp()
    {
        string directory = Directory.CreateTempSubdirectory("crac-bad-policy-").FullName;
        string policies = Path.Combine(directory, "policies.yaml");
        File.WriteAllText(policies, "type: file\npath: /x\naction: obliterate\n");
        using SampleProcess app = await SampleProcess.StartAsync(environment: new Dictionary<string, string?> { ["CRAC_RESOURCE_POLICIES"] = policies });

        ToolResult checkpoint = await ToolRun.RunAsync("checkpoint", app.Pid.ToString());
        ToolResult fds = await ToolRun.RunAsync("fds", app.Pid.ToString());

        Assert.AreEqual(2, checkpoint.ExitCode, checkpoint.ToString());
        StringAssert.Contains(checkpoint.Stderr, $"Resource policies file {policies}, line 3: unknown action 'obliterate' (use error, ignore, close or reopen).");
        StringAssert.Contains(fds.Stdout, "Warning: the resource policies are not applied, and a checkpoint would fail on them: ");
        Assert.IsTrue(app.IsAlive);
        File.WriteAllText(policies, "type: file\npath: /x\naction: close\n");
        Assert.AreEqual(0, (await ToolRun.RunAsync("checkpoint", app.Pid.ToString())).ExitCode, "the fixed file is read at the next checkpoint");
        Directory.Delete(directory, recursive: true);
    }

    [TestMethod]
    public async Task OriginsNameWhereEachDescriptorWasOpenedManagedOrNative()
    {
        int port = FreePort();
        string directory = Directory.CreateTempSubdirectory("crac-origins-").FullName;
        string output = Path.Combine(directory, "out.log");
        using Process tool = ProcessRunner.Start("dotnet",
        [
            Paths.Tool, "run", "--collect-fd-stacktraces", "--", "dotnet", Paths.SampleApp,
            "--leak-file", Path.Combine(directory, "managed.txt"), "--leak-listener", port.ToString(), "--leak-pipe",
            "--leak-native", Path.Combine(directory, "pinvoke.txt"), "--leak-gzip", Path.Combine(directory, "native.gz"),
        ], output, null, null);
        try
        {
            int pid = await ProcessRunner.WaitForReadyPidAsync(output, "the app");

            ToolResult fds = await ToolRun.RunAsync("fds", pid.ToString(), "--format", "json");
            ToolResult checkpoint = await ToolRun.RunAsync("checkpoint", pid.ToString());

            // Every descriptor carries its origin, blocking or not.
            JsonElement[] all = JsonDocument.Parse(fds.Stdout).RootElement.GetProperty("fds").EnumerateArray().ToArray();
            string StackOf(Func<JsonElement, bool> which) => all.Single(which).GetProperty("origin") is var origin
                ? string.Join("\n", origin.GetProperty("nativeStack").EnumerateArray().Select(f => "[native] " + f.GetString())
                    .Concat(origin.GetProperty("managedStack").EnumerateArray().Select(f => f.GetString())))
                : string.Empty;
            string Stack(string targetSuffix) => StackOf(fd =>
                (fd.GetProperty("target").GetString() + (fd.TryGetProperty("socket", out JsonElement s) ? s.GetString() : "")).Contains(targetSuffix));
            StringAssert.Contains(Stack("managed.txt"), "System.IO.FileStream..ctor(");
            StringAssert.Contains(Stack($"{port} listening"), "System.Net.Sockets.TcpListener..ctor(");
            StringAssert.Contains(StackOf(fd => fd.GetProperty("reason").GetString()!.StartsWith("a pipe to child process")), "System.Diagnostics.Process.Start(");
            StringAssert.Contains(Stack("pinvoke.txt"), "Native.open(String path");
            StringAssert.Contains(Stack("native.gz"), "(libz.so.1)");
            StringAssert.Contains(Stack("native.gz"), "Native.gzopen(");
            StringAssert.Contains(checkpoint.Stderr, "Caused by: Crac.FileDescriptors.FdOriginException: This file descriptor was created by thread 1 at epoch:");
            Assert.IsFalse(checkpoint.Stderr.Contains("Set CRAC_COLLECT_FD_STACKTRACES=true"), "no hint to turn on what is on");
            Process.Start("kill", ["-9", pid.ToString()])!.WaitForExit();
        }
        finally
        {
            tool.Kill(entireProcessTree: true);
            Directory.Delete(directory, recursive: true);
        }
    }

    [TestMethod]
    public async Task OriginsAskedForWithoutTheTrackerPreloadedSayWhatIsMissing()
    {
        string directory = Directory.CreateTempSubdirectory("crac-no-tracker-").FullName;
        using SampleProcess app = await SampleProcess.StartAsync(
            ["--leak-file", Path.Combine(directory, "leaked.txt")], environment: new Dictionary<string, string?> { ["CRAC_COLLECT_FD_STACKTRACES"] = "true" });

        ToolResult checkpoint = await ToolRun.RunAsync("checkpoint", app.Pid.ToString());

        Assert.AreEqual(2, checkpoint.ExitCode, checkpoint.ToString());
        StringAssert.Contains(checkpoint.Stderr, "Its origin was not recorded: libcrac-fdtrack.so is not preloaded.");
        StringAssert.Contains(app.Output, "crac: CRAC_COLLECT_FD_STACKTRACES=true, but libcrac-fdtrack.so is not preloaded.");
        Directory.Delete(directory, recursive: true);
    }

    private static int LogDescriptor(int pid, string path) =>
        Directory.GetFiles($"/proc/{pid}/fd").Select(f => (Fd: int.Parse(Path.GetFileName(f)), Target: new FileInfo(f).LinkTarget)).Single(e => e.Target == path).Fd;

    private static void AssertContinuousTicks(string[] lines)
    {
        long[] ticks = lines.Where(l => l.StartsWith("tick ")).Select(l => long.Parse(l[5..])).ToArray();
        Assert.IsTrue(ticks.Length > 5, string.Join('\n', lines));
        for (int i = 1; i < ticks.Length; i++)
        {
            // Ticks written while the descriptor was parked went to /dev/null: a gap is fine, garbage or a rewind is not.
            Assert.IsTrue(ticks[i] > ticks[i - 1], $"tick {ticks[i]} after {ticks[i - 1]}: the log was not reopened at its position");
        }

        Assert.IsTrue(lines.All(l => l.StartsWith("tick ") || l == "opened"), "no torn or overwritten lines:\n" + string.Join('\n', lines));
    }

    // Shares the file with the app's FileStream (and its lock) as `cat` would.
    private static string[] ReadLines(string path)
    {
        using var stream = new FileStream(path, new FileStreamOptions { Access = FileAccess.Read, Share = FileShare.ReadWrite | FileShare.Delete });
        return new StreamReader(stream).ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
