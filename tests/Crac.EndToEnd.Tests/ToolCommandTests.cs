using System.Diagnostics;
using System.Text.Json;
using Crac.EndToEnd.Tests.Infrastructure;

namespace Crac.EndToEnd.Tests;

/// <summary>The dotnet-crac commands against real sample apps, through the real diagnostics socket.</summary>
[TestClass]
public sealed class ToolCommandTests
{
    [TestMethod]
    public async Task PsListsDotNetProcessesWithTheirAgentAndCheckpointability()
    {
        using SampleProcess withAgent = await SampleProcess.StartAsync();
        using SampleProcess withoutAgent = await SampleProcess.StartAsync(agent: false);

        ToolResult text = await ToolRun.RunAsync("ps");
        ToolResult json = await ToolRun.RunAsync("ps", "--format", "json");

        Assert.AreEqual(0, text.ExitCode, text.ToString());
        StringAssert.Matches(text.Stdout, new System.Text.RegularExpressions.Regex($@"(?m)^{withAgent.Pid}\s+SampleApp\s+yes\s+Ready\s"));
        StringAssert.Matches(text.Stdout, new System.Text.RegularExpressions.Regex($@"(?m)^{withoutAgent.Pid}\s+SampleApp\s+no\s+-\s"));
        using JsonDocument document = JsonDocument.Parse(json.Stdout);
        JsonElement entry = document.RootElement.EnumerateArray().Single(e => e.GetProperty("pid").GetInt32() == withAgent.Pid);
        Assert.IsTrue(entry.GetProperty("agent").GetBoolean());
        Assert.AreEqual("Ready", entry.GetProperty("checkpointability").GetString());
    }

    [TestMethod]
    public async Task SocketsLeftByKilledProcessesOrForeignPidsAreNotProcesses()
    {
        SampleProcess killed = await SampleProcess.StartAsync(agent: false);
        int killedPid = killed.Pid;
        killed.Dispose();
        await ProcessRunner.WaitUntilAsync(() => !Directory.Exists($"/proc/{killedPid}"), TimeSpan.FromSeconds(10), "the killed app to be reaped");
        // A socket name whose pid is alive but not the process that made it (pid 1 here).
        string foreign = Path.Combine(Path.GetTempPath(), "dotnet-diagnostic-1-42-socket");
        File.WriteAllText(foreign, string.Empty);
        using SampleProcess live = await SampleProcess.StartAsync();
        try
        {
            Assert.IsTrue(Directory.EnumerateFiles(Path.GetTempPath(), $"dotnet-diagnostic-{killedPid}-*-socket").Any(), "SIGKILL leaves the socket file");

            ToolResult ps = await ToolRun.RunAsync("ps", "--format", "json");
            ToolResult byName = await ToolRun.RunAsync("status", "-n", "SampleApp");
            ToolResult pidOne = await ToolRun.RunAsync("status", "1");

            using JsonDocument document = JsonDocument.Parse(ps.Stdout);
            int[] listed = [.. document.RootElement.EnumerateArray().Select(e => e.GetProperty("pid").GetInt32())];
            CollectionAssert.Contains(listed, live.Pid);
            CollectionAssert.DoesNotContain(listed, killedPid);
            CollectionAssert.DoesNotContain(listed, 1);
            Assert.AreEqual(0, byName.ExitCode, byName.ToString());
            StringAssert.Contains(byName.Stdout, $"Process {live.Pid} (SampleApp)");
            Assert.AreEqual(5, pidOne.ExitCode, pidOne.ToString());
            StringAssert.Contains(pidOne.Stderr, "is not a .NET process");
        }
        finally
        {
            File.Delete(foreign);
        }
    }

    [TestMethod]
    public async Task StatusShowsEngineCheckpointabilityHistoryAndBlockingFds()
    {
        using SampleProcess app = await SampleProcess.StartAsync();

        ToolResult before = await ToolRun.RunAsync("status", app.Pid.ToString());
        ToolResult checkpoint = await ToolRun.RunAsync("checkpoint", app.Pid.ToString());
        ToolResult after = await ToolRun.RunAsync("status", "-p", app.Pid.ToString(), "--format", "json");

        Assert.AreEqual(0, before.ExitCode, before.ToString());
        StringAssert.Contains(before.Stdout, "Engine:               simulate");
        StringAssert.Contains(before.Stdout, "Checkpointable:       Ready");
        StringAssert.Contains(before.Stdout, "Generation:           0 (never restored)");
        StringAssert.Contains(before.Stdout, "Last checkpoint:      none");
        StringAssert.Contains(before.Stdout, "Blocking fds:         0");
        Assert.AreEqual(0, checkpoint.ExitCode, checkpoint.ToString());
        using JsonDocument status = JsonDocument.Parse(after.Stdout);
        Assert.AreEqual(1, status.RootElement.GetProperty("generation").GetInt32());
        Assert.AreEqual("restored", status.RootElement.GetProperty("lastCheckpointOutcome").GetString());
        Assert.IsTrue(status.RootElement.TryGetProperty("restoreTime", out _));
        Assert.IsTrue(status.RootElement.GetProperty("uptimeSinceRestoreMilliseconds").GetDouble() >= 0);
    }

    [TestMethod]
    public async Task ASuccessfulCheckpointNotifiesEveryResourceInOrderAndReportsItsPhases()
    {
        using SampleProcess app = await SampleProcess.StartAsync(["--resources", "3"]);

        ToolResult result = await ToolRun.RunAsync("checkpoint", app.Pid.ToString());

        Assert.AreEqual(0, result.ExitCode, result.ToString());
        StringAssert.Contains(result.Stdout, "succeeded (simulate engine)");
        StringAssert.Matches(result.Stdout, new System.Text.RegularExpressions.Regex(@"before-checkpoint\s+[\d.]+ m?s"));
        StringAssert.Matches(result.Stdout, new System.Text.RegularExpressions.Regex(@"after-restore\s+[\d.]+ m?s"));
        await app.WaitForOutputAsync("resource-3: after restore");
        string output = app.Output;
        int[] order =
        [
            output.IndexOf("resource-3: before checkpoint", StringComparison.Ordinal),
            output.IndexOf("resource-2: before checkpoint", StringComparison.Ordinal),
            output.IndexOf("resource-1: before checkpoint", StringComparison.Ordinal),
            output.IndexOf("resource-1: after restore", StringComparison.Ordinal),
            output.IndexOf("resource-2: after restore", StringComparison.Ordinal),
            output.IndexOf("resource-3: after restore", StringComparison.Ordinal),
        ];
        CollectionAssert.AreEqual(order.Order().ToArray(), order, output);
        Assert.IsTrue(order[0] >= 0, output);
    }

    [TestMethod]
    public async Task AFailingCheckpointPrintsTheSuppressedExceptionTreeAndTheAppCarriesOn()
    {
        using SampleProcess app = await SampleProcess.StartAsync(["--failing-resource"]);

        ToolResult text = await ToolRun.RunAsync("checkpoint", app.Pid.ToString());
        ToolResult json = await ToolRun.RunAsync("checkpoint", app.Pid.ToString(), "--format", "json");

        Assert.AreEqual(2, text.ExitCode, text.ToString());
        StringAssert.Contains(text.Stderr, "failed; the process carries on and every notified resource was restored");
        StringAssert.Contains(text.Stderr, "Crac.CheckpointException: The checkpoint failed.\n");
        StringAssert.Contains(text.Stderr, "\tSuppressed: System.InvalidOperationException: The database connection pool cannot be drained: 3 transactions are still open.\n");
        StringAssert.Contains(text.Stderr, "\t\tat FailingResource.BeforeCheckpointAsync(");
        Assert.AreEqual(2, json.ExitCode, json.ToString());
        using JsonDocument document = JsonDocument.Parse(json.Stdout);
        JsonElement failure = document.RootElement.GetProperty("report").GetProperty("failure");
        Assert.AreEqual("Crac.CheckpointException", failure.GetProperty("type").GetString());
        Assert.AreEqual("System.InvalidOperationException", failure.GetProperty("suppressed")[0].GetProperty("type").GetString());
        await app.WaitForOutputAsync("failing-resource: after restore");
        Assert.IsTrue(app.IsAlive);
        ToolResult status = await ToolRun.RunAsync("status", app.Pid.ToString());
        StringAssert.Contains(status.Stdout, "Last checkpoint:      failed");
        StringAssert.Contains(status.Stdout, "The database connection pool cannot be drained");
    }

    [TestMethod]
    public async Task ADryRunReportsProblemsWithoutAnImage()
    {
        using SampleProcess app = await SampleProcess.StartAsync(["--failing-resource"]);

        ToolResult result = await ToolRun.RunAsync("checkpoint", app.Pid.ToString(), "--dry-run", "--engine", "criu");

        Assert.AreEqual(2, result.ExitCode, result.ToString());
        StringAssert.Contains(result.Stderr, "The dry run of process");
        StringAssert.Contains(result.Stderr, "The database connection pool cannot be drained");
        ToolResult status = await ToolRun.RunAsync("status", app.Pid.ToString());
        StringAssert.Contains(status.Stdout, "Generation:           0");
    }

    [TestMethod]
    public async Task TheCheckpointTimeoutNamesTheSlowResource()
    {
        using SampleProcess app = await SampleProcess.StartAsync(["--slow-resource", "60000"]);

        ToolResult result = await ToolRun.RunAsync("checkpoint", app.Pid.ToString(), "--timeout", "500ms");

        Assert.AreEqual(2, result.ExitCode, result.ToString());
        StringAssert.Contains(result.Stderr, "Resource 'slow-resource' (SlowResource) did not complete BeforeCheckpointAsync within the checkpoint timeout of 500 ms.");
        Assert.IsTrue(app.IsAlive);
    }

    [TestMethod]
    public async Task TheTimeoutTheOperatorGivesIsExactlyTheOneTheProcessAppliesInfiniteIncluded()
    {
        // Longer than the 30 s default: only an infinite timeout lets it finish.
        using SampleProcess app = await SampleProcess.StartAsync(["--slow-resource", "33000"]);

        ToolResult bounded = await ToolRun.RunAsync("checkpoint", app.Pid.ToString(), "--timeout", "2s");
        ToolResult unbounded = await ToolRun.RunAsync(["checkpoint", app.Pid.ToString(), "--timeout", "infinite", "--format", "json"], timeout: TimeSpan.FromSeconds(90));

        Assert.AreEqual(2, bounded.ExitCode, bounded.ToString());
        StringAssert.Contains(bounded.Stderr, "Resource 'slow-resource' (SlowResource) did not complete BeforeCheckpointAsync within the checkpoint timeout of 2 s.");
        Assert.IsTrue(bounded.Elapsed < TimeSpan.FromSeconds(15), bounded.ToString());
        Assert.AreEqual(0, unbounded.ExitCode, unbounded.ToString());
        Assert.IsTrue(unbounded.Elapsed >= TimeSpan.FromSeconds(33), unbounded.ToString());
        using JsonDocument json = JsonDocument.Parse(unbounded.Stdout);
        Assert.AreEqual("restored", json.RootElement.GetProperty("report").GetProperty("outcome").GetString());
        Assert.AreEqual("infinite", json.RootElement.GetProperty("limits").GetProperty("resourceTimeout").GetString(), "the acceptance states the limit the process applies");
        Assert.IsTrue(app.IsAlive);
    }

    [TestMethod]
    public async Task EngineOptionsAreCheckedAndListed()
    {
        using SampleProcess app = await SampleProcess.StartAsync();

        ToolResult help = await ToolRun.RunAsync("checkpoint", "--engine", "criu", "--engine-options", "help");
        ToolResult unknownEngine = await ToolRun.RunAsync("checkpoint", app.Pid.ToString(), "--engine", "warp");
        ToolResult badOption = await ToolRun.RunAsync("checkpoint", app.Pid.ToString(), "--engine", "criu", "--image-dir", Path.Combine(app.Directory, "img"), "--engine-options", "log-level=loud");

        Assert.AreEqual(0, help.ExitCode, help.ToString());
        StringAssert.Contains(help.Stdout, "criu engine: ");
        StringAssert.Matches(help.Stdout, new System.Text.RegularExpressions.Regex(@"tcp-established +bool +default false"));
        Assert.AreEqual(2, unknownEngine.ExitCode, unknownEngine.ToString());
        StringAssert.Contains(unknownEngine.Stderr, "Unknown checkpoint engine 'warp'. The engines are: simulate, criu, pause.");
        Assert.AreEqual(2, badOption.ExitCode, badOption.ToString());
        StringAssert.Contains(badOption.Stderr, "Engine option 'log-level' of the criu engine expects an int, but got 'loud'.");
    }

    [TestMethod]
    public async Task CommandsListsWhatTheAgentUnderstands()
    {
        using SampleProcess app = await SampleProcess.StartAsync();

        ToolResult result = await ToolRun.RunAsync("commands", app.Pid.ToString());

        Assert.AreEqual(0, result.ExitCode, result.ToString());
        foreach (string command in new[] { "help", "status", "fds", "checkpoint", "outcome", "resume" })
        {
            StringAssert.Matches(result.Stdout, new System.Text.RegularExpressions.Regex($@"(?m)^  {command} "));
        }
    }

    [TestMethod]
    public async Task NameResolvesToTheOnlyProcessOfThatName()
    {
        using SampleProcess app = await SampleProcess.StartAsync();

        ToolResult result = await ToolRun.RunAsync("status", "-n", "SampleApp");

        Assert.AreEqual(0, result.ExitCode, result.ToString());
        StringAssert.Contains(result.Stdout, $"Process {app.Pid} (SampleApp)");
    }

    [TestMethod]
    public async Task RunLaunchesACommandWithTheAgentLoaded()
    {
        string directory = Directory.CreateTempSubdirectory("crac-run-").FullName;
        string output = Path.Combine(directory, "out.log");
        using Process tool = ProcessRunner.Start("dotnet", [Paths.Tool, "run", "--", "dotnet", Paths.SampleApp], output, null, null);
        try
        {
            int pid = await ProcessRunner.WaitForReadyPidAsync(output, "the app started by dotnet crac run");

            ToolResult status = await ToolRun.RunAsync("status", pid.ToString());

            Assert.AreEqual(0, status.ExitCode, status.ToString());
            StringAssert.Contains(status.Stdout, "Checkpointable:       Ready");
            Process.Start("kill", ["-INT", pid.ToString()])!.WaitForExit();
            Assert.IsTrue(tool.WaitForExit(TimeSpan.FromSeconds(20)), "the app stops on SIGINT, and dotnet crac run with it");
            Assert.AreEqual(0, tool.ExitCode, "dotnet crac run passes on the command's exit code");
        }
        finally
        {
            tool.Kill(entireProcessTree: true);
            Directory.Delete(directory, recursive: true);
        }
    }
}
