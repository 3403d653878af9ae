using System.Diagnostics;
using Crac.EndToEnd.Tests.Infrastructure;

namespace Crac.EndToEnd.Tests;

/// <summary>
/// Every way a command can fail gets a message that names the cause and the fix, a non-zero exit
/// code, and an answer within two seconds of the tool starting its work.
/// </summary>
[TestClass]
public sealed class ErrorTests
{
    // The tool's own start (JIT, TraceEvent) is not the error path's time: measure against a plain run.
    private static readonly TimeSpan FastError = TimeSpan.FromSeconds(2);

    [TestMethod]
    public async Task APidThatDoesNotExistIsNamed()
    {
        ToolResult result = await ToolRun.RunAsync("status", "999999");

        Assert.AreEqual(4, result.ExitCode, result.ToString());
        StringAssert.Contains(result.Stderr, "No process with id 999999 exists");
        StringAssert.Contains(result.Stderr, "dotnet crac ps");
        Assert.IsTrue(result.Elapsed < FastError, result.ToString());
    }

    [TestMethod]
    public async Task AKilledProcessNotYetReapedIsNamedAsGone()
    {
        // sleep 30 never waits for the child the shell started: that child stays a zombie.
        using Process parent = Process.Start("sh", ["-c", "sleep 0.01 & exec sleep 30"]);
        try
        {
            int zombie = 0;
            for (int i = 0; i < 200 && zombie == 0; i++)
            {
                Thread.Sleep(10);
                string children = File.ReadAllText($"/proc/{parent.Id}/task/{parent.Id}/children").Trim();
                if (int.TryParse(children, out int child) && Crac.Interop.Procfs.IsZombie(child))
                {
                    zombie = child;
                }
            }

            Assert.AreNotEqual(0, zombie, "the shell's child did not become a zombie within 2 s");
            Assert.IsTrue(Directory.Exists($"/proc/{zombie}"), "a zombie keeps its /proc entry and its pid");

            ToolResult result = await ToolRun.RunAsync("status", zombie.ToString());

            Assert.AreEqual(4, result.ExitCode, result.ToString());
            StringAssert.Contains(result.Stderr, $"No process with id {zombie} exists (it may have exited)");
        }
        finally
        {
            parent.Kill();
        }
    }

    [TestMethod]
    public async Task AProcessThatIsNotDotNetIsNamedAsSuch()
    {
        using Process sleeper = Process.Start("sleep", "60");
        try
        {
            ToolResult result = await ToolRun.RunAsync("status", sleeper.Id.ToString());

            Assert.AreEqual(5, result.ExitCode, result.ToString());
            StringAssert.Contains(result.Stderr, $"Process {sleeper.Id} (sleep) is not a .NET process: it has no diagnostics socket");
            Assert.IsTrue(result.Elapsed < FastError, result.ToString());
        }
        finally
        {
            sleeper.Kill();
        }
    }

    [TestMethod]
    public async Task ADotNetProcessWithoutTheAgentSaysHowToLoadIt()
    {
        using SampleProcess app = await SampleProcess.StartAsync(agent: false);

        foreach (string command in new[] { "status", "fds", "checkpoint" })
        {
            ToolResult result = await ToolRun.RunAsync(command, app.Pid.ToString());

            Assert.AreEqual(6, result.ExitCode, result.ToString());
            StringAssert.Contains(result.Stderr, "the dotnet-crac agent is not loaded in it");
            StringAssert.Contains(result.Stderr, "dotnet crac run -- <command>");
            StringAssert.Contains(result.Stderr, "DOTNET_STARTUP_HOOKS=");
            Assert.IsTrue(result.Elapsed < FastError, result.ToString());
        }
    }

    [TestMethod]
    public async Task AnotherUsersProcessIsPermissionDenied()
    {
        using SampleProcess app = await SampleProcess.StartAsync();

        // The tool as an unprivileged user against root's process.
        ToolResult result = await ToolRun.RunAsync(
            ["status", app.Pid.ToString()],
            new Dictionary<string, string?> { ["CRAC_TEST_AS_USER"] = "nobody" });

        Assert.AreEqual(7, result.ExitCode, result.ToString());
        StringAssert.Contains(result.Stderr, $"Permission denied: process {app.Pid} (SampleApp) belongs to root");
        StringAssert.Contains(result.Stderr, "sudo");
    }

    [TestMethod]
    public async Task TheTargetExitingMidCommandIsReported()
    {
        using SampleProcess app = await SampleProcess.StartAsync(["--slow-resource", "30000"]);

        Task<ToolResult> checkpoint = ToolRun.RunAsync("checkpoint", app.Pid.ToString());
        await app.WaitForOutputAsync("slow-resource: draining");
        app.Kill();
        ToolResult result = await checkpoint;

        Assert.AreEqual(9, result.ExitCode, result.ToString());
        // "exited while running 'checkpoint'" or "exited during its checkpoint", by when it died.
        StringAssert.Matches(result.Stderr, new System.Text.RegularExpressions.Regex($@"Process {app.Pid} \(SampleApp\) exited (while running 'checkpoint'|during its checkpoint)"));
    }

    [TestMethod]
    public async Task ABadCommandLineIsAnArgumentError()
    {
        ToolResult noProcess = await ToolRun.RunAsync("status");
        ToolResult badTimeout = await ToolRun.RunAsync("checkpoint", "1", "--timeout", "soon");

        Assert.AreEqual(1, noProcess.ExitCode, noProcess.ToString());
        StringAssert.Contains(noProcess.Stderr, "Name the process: dotnet crac <command> <pid>, -p <pid> or -n <name>.");
        Assert.AreEqual(1, badTimeout.ExitCode, badTimeout.ToString());
        StringAssert.Contains(badTimeout.Stderr, "--timeout='soon' is not a timeout");
    }
}
