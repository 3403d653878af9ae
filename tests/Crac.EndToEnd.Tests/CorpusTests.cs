using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Crac.EndToEnd.Tests.Infrastructure;

namespace Crac.EndToEnd.Tests;

/// <summary>
/// Apps nobody here shaped to pass, built on third-party libraries as their users use them
/// (tests/apps/Corpus), each checkpointed with `--engine criu --image-dir` and nothing else, restored,
/// and shown to work after the restore; or, where a default cannot be right, refused before
/// CRIU runs with a tree that names the fix. (`dotnet new web` under wrk load is in the hosting tests.)
/// </summary>
[TestClass]
public sealed class CorpusTests
{
    [ClassInitialize]
    public static void RequireCriu(TestContext context) =>
        Assert.IsTrue(File.Exists(Paths.Criu), $"CRIU is not installed at {Paths.Criu}: run .ci/install-criu.sh (the CI does).");

    [TestMethod]
    public async Task SerilogsFileSinkIsRefusedBeforeCriuWithTheFixAndTheOperatorsReopenPolicyMakesItRestoreAgainAndAgain()
    {
        using SampleProcess app = await SampleProcess.StartCorpusAsync("SerilogFileLog", [LogPath(out string log)]);
        string image = Path.Combine(app.Directory, "image");
        await WaitForLinesAsync(log, 5);

        // Serilog's FileStream writes under a shared flock: taken along, a grown log would fail the next restore.
        ToolResult refused = await ToolRun.RunAsync("checkpoint", app.Pid.ToString(), "--engine", "criu", "--image-dir", image);

        Assert.AreEqual(2, refused.ExitCode, refused.ToString());
        StringAssert.Contains(refused.Stderr, $"{log} (regular, mode w");
        StringAssert.Contains(refused.Stderr, $"(type: file, path: {log}, action: reopen) given with --policies");
        Assert.IsFalse(File.Exists(Path.Combine(image, "dump.log")), "refused before CRIU ran");
        int linesAfterRefusal = File.ReadAllLines(log).Length;
        await WaitForLinesAsync(log, linesAfterRefusal + 3);

        string policies = Path.Combine(app.Directory, "reopen-logs.yaml");
        File.WriteAllText(policies, $"type: file\npath: {Path.GetDirectoryName(log)}/*.log\naction: reopen\n");
        ToolResult checkpoint = await ToolRun.RunAsync("checkpoint", app.Pid.ToString(), "--engine", "criu", "--image-dir", image, "--policies", policies);
        Assert.AreEqual(0, checkpoint.ExitCode, checkpoint.ToString());
        StringAssert.Contains(checkpoint.Stdout, $"): policy rule 1 of {policies} (line 1): reopen");
        await app.WaitForExitAsync();

        for (int round = 1; round <= 2; round++)
        {
            int before = File.ReadAllLines(log).Length;
            ToolResult restore = await ToolRun.RunAsync("restore", image);
            Assert.AreEqual(0, restore.ExitCode, $"restore {round}: {restore}");
            await WaitForLinesAsync(log, before + 3);
            app.Kill();
            await ProcessRunner.WaitUntilAsync(() => !Directory.Exists($"/proc/{app.Pid}"), TimeSpan.FromSeconds(10), "the restored process to go");
        }
    }

    [TestMethod]
    public async Task ASqliteDatabaseKeptOpenComesBackAndTakesWritesAgain()
    {
        string database = Path.Combine(Directory.CreateTempSubdirectory("crac-sqlite-").FullName, "notes.db");
        using SampleProcess app = await SampleProcess.StartCorpusAsync("SqliteNotes", [database]);
        await app.WaitForOutputAsync("notes=5\n");
        string image = Path.Combine(app.Directory, "image");

        ToolResult checkpoint = await ToolRun.RunAsync("checkpoint", app.Pid.ToString(), "--engine", "criu", "--image-dir", image);
        Assert.AreEqual(0, checkpoint.ExitCode, checkpoint.ToString());
        await app.WaitForExitAsync();
        int notesAtCheckpoint = LastNumber(app.Output, "notes");

        ToolResult restore = await ToolRun.RunAsync("restore", image);

        Assert.AreEqual(0, restore.ExitCode, restore.ToString());
        StringAssert.Contains(restore.Stdout, $"Its stdout and stderr go to {app.OutputFile}.");
        await ProcessRunner.WaitUntilAsync(() => LastNumber(app.Output, "notes") >= notesAtCheckpoint + 3, TimeSpan.FromSeconds(15), "new notes after the restore");
        Directory.Delete(Path.GetDirectoryName(database)!, recursive: true);
    }

    [TestMethod]
    public async Task AHostWithReloadOnChangeConfigurationSeesAChangeMadeAfterTheRestore()
    {
        string settings = Path.Combine(Directory.CreateTempSubdirectory("crac-reload-").FullName, "settings.json");
        File.WriteAllText(settings, """{ "Greeting": { "Text": "before" } }""");
        using SampleProcess app = await SampleProcess.StartCorpusAsync("ConfigReload", [settings]);
        await app.WaitForOutputAsync("greeting=before");
        string image = Path.Combine(app.Directory, "image");

        ToolResult checkpoint = await ToolRun.RunAsync("checkpoint", app.Pid.ToString(), "--engine", "criu", "--image-dir", image);
        Assert.AreEqual(0, checkpoint.ExitCode, checkpoint.ToString());
        await app.WaitForExitAsync();
        ToolResult restore = await ToolRun.RunAsync("restore", image);
        Assert.AreEqual(0, restore.ExitCode, restore.ToString());
        File.WriteAllText(settings, """{ "Greeting": { "Text": "changed after the restore" } }""");

        // The FileSystemWatcher's inotify watch came back with the process.
        await app.WaitForOutputAsync("greeting=changed after the restore");
        Directory.Delete(Path.GetDirectoryName(settings)!, recursive: true);
    }

    [TestMethod]
    public async Task AGrpcServiceWithAConnectedClientShutsTheConnectionDownAndServesTheSameClientAfterTheRestore()
    {
        int port = FreePort();
        using SampleProcess server = await SampleProcess.StartCorpusAsync("GrpcGreeter", ["--urls", $"http://127.0.0.1:{port}"]);
        string clientOutput = Path.Combine(server.Directory, "client.log");
        using Process client = ProcessRunner.Start("dotnet", [Paths.Output("GrpcGreeter", "GrpcGreeter.dll"), "--call", $"http://127.0.0.1:{port}"], clientOutput, null, null);
        try
        {
            await ProcessRunner.WaitUntilAsync(() => ProcessRunner.ReadShared(clientOutput).Contains("served)"), TimeSpan.FromSeconds(20), "the client's first reply");
            string image = Path.Combine(server.Directory, "image");

            ToolResult checkpoint = await ToolRun.RunAsync("checkpoint", server.Pid.ToString(), "--engine", "criu", "--image-dir", image);

            Assert.AreEqual(0, checkpoint.ExitCode, checkpoint.ToString());
            StringAssert.Contains(checkpoint.Stdout, "shut down 1 connection(s) this process accepted, so their clients see a close");
            StringAssert.Contains(checkpoint.Stdout, $"kept 1 listening socket(s), which CRIU restores");
            await server.WaitForExitAsync();
            int servedBefore = LastNumber(ProcessRunner.ReadShared(clientOutput), "\\(");
            await ProcessRunner.WaitUntilAsync(() => ProcessRunner.ReadShared(clientOutput).Contains("failed Unavailable"), TimeSpan.FromSeconds(10), "the client to notice the server is gone");

            ToolResult restore = await ToolRun.RunAsync("restore", image);

            Assert.AreEqual(0, restore.ExitCode, restore.ToString());
            // The same client, on its channel, gets answers again from the server's restored state.
            await ProcessRunner.WaitUntilAsync(
                () => ProcessRunner.ReadShared(clientOutput).Split('\n').SkipWhile(l => !l.StartsWith("failed")).Any(l => l.Contains($"({servedBefore + 1} served)")),
                TimeSpan.FromSeconds(20), "a reply from the restored server");
        }
        finally
        {
            client.Kill();
        }
    }

    [TestMethod]
    public async Task AnAppCompilingCSharpWithRoslynTakesItsSharedReadLocksAlongAndEvaluatesAgainAfterTheRestore()
    {
        using SampleProcess app = await SampleProcess.StartCorpusAsync("CSharpScripting", []);
        await app.WaitForOutputAsync("evaluated n=2 ");
        string image = Path.Combine(app.Directory, "image");

        ToolResult fds = await ToolRun.RunAsync("fds", app.Pid.ToString());
        ToolResult dryRun = await ToolRun.RunAsync("checkpoint", app.Pid.ToString(), "--engine", "criu", "--image-dir", image, "--dry-run");
        ToolResult checkpoint = await ToolRun.RunAsync("checkpoint", app.Pid.ToString(), "--engine", "criu", "--image-dir", image);

        // Roslyn reads metadata through FileStream: shared flocks on assemblies, which CRIU takes along with --file-locks.
        StringAssert.Contains(fds.Stdout, "System.Private.CoreLib.dll");
        StringAssert.Contains(fds.Stdout, "read-only, holds a shared flock: CRIU takes the lock along (--file-locks)");
        StringAssert.Matches(dryRun.Stdout, new Regex(@"The checkpoint would run: criu dump -t \d+ -D \S+ .*--file-locks"));
        Assert.AreEqual(0, checkpoint.ExitCode, checkpoint.ToString());
        StringAssert.Contains(checkpoint.Stdout, "taken along the shared locks held through");
        await app.WaitForExitAsync();
        int evaluatedAtCheckpoint = LastNumber(app.Output, "evaluated n");

        ToolResult restore = await ToolRun.RunAsync("restore", image);

        Assert.AreEqual(0, restore.ExitCode, restore.ToString());
        await ProcessRunner.WaitUntilAsync(() => LastNumber(app.Output, "evaluated n") >= evaluatedAtCheckpoint + 2, TimeSpan.FromSeconds(20), "new evaluations after the restore");
    }

    private static string LogPath(out string path) =>
        path = Path.Combine(Directory.CreateTempSubdirectory("crac-serilog-").FullName, "app.log");

    private static async Task WaitForLinesAsync(string path, int lines) =>
        await ProcessRunner.WaitUntilAsync(() => ProcessRunner.ReadShared(path).Split('\n', StringSplitOptions.RemoveEmptyEntries).Length >= lines,
            TimeSpan.FromSeconds(20), $"{lines} lines in {path}");

    /// <summary>The last number written after <paramref name="label"/>= (or after a label pattern), 0 when none.</summary>
    private static int LastNumber(string text, string label)
    {
        MatchCollection matches = Regex.Matches(text, label + @"[= ]?(\d+)");
        return matches.Count == 0 ? 0 : int.Parse(matches[^1].Groups[1].Value);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
