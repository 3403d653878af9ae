using System.Diagnostics;
using System.Diagnostics.Tracing;
using Crac.EndToEnd.Tests.Infrastructure;
using Crac.Interop;
using Crac.Protocol;
using Crac.Tool.Agent;
using Microsoft.Diagnostics.NETCore.Client;
using Microsoft.Diagnostics.Tracing;

namespace Crac.EndToEnd.Tests;

/// <summary>The agent's side of the diagnostics channel, exercised with raw requests and odd clients.</summary>
[TestClass]
public sealed class ChannelTests
{
    [TestMethod]
    public async Task AnUnknownCommandOrAMalformedPayloadGetsAClearErrorAndTheAppCarriesOn()
    {
        using SampleProcess app = await SampleProcess.StartAsync();
        var client = new AgentClient(TargetProcess.Open(app.Pid));

        AgentReply unknown = await client.SendRawAsync("jump", "{}", AgentClient.DefaultReplyTimeout, CancellationToken.None, retry: true);
        AgentReply malformed = await client.SendRawAsync(AgentCommands.Outcome.Name, "{not json", AgentClient.DefaultReplyTimeout, CancellationToken.None, retry: true);
        AgentReply wrongShape = await client.SendRawAsync(AgentCommands.Resume.Name, """{"kind":"sideways"}""", AgentClient.DefaultReplyTimeout, CancellationToken.None, retry: true);

        Assert.AreEqual(AgentErrorCode.UnknownCommand, unknown.Error?.Code);
        StringAssert.Contains(unknown.Error!.Message, "Unknown command 'jump'. The commands are: help, status, fds, checkpoint, outcome, resume.");
        Assert.AreEqual(AgentErrorCode.BadRequest, malformed.Error?.Code);
        StringAssert.StartsWith(malformed.Error!.Message, "Malformed 'outcome' request:");
        Assert.AreEqual(AgentErrorCode.BadRequest, wrongShape.Error?.Code);
        StringAssert.Contains(wrongShape.Error!.Message, "unknown resume kind 'sideways'");
        ToolResult status = await ToolRun.RunAsync("status", app.Pid.ToString());
        Assert.AreEqual(0, status.ExitCode, status.ToString());
    }

    [TestMethod]
    public async Task AValueWithQuotesSemicolonsAndNonAsciiArrivesIntactAndInjectsNothing()
    {
        using SampleProcess app = await SampleProcess.StartAsync();
        var client = new AgentClient(TargetProcess.Open(app.Pid));

        // Unencoded, a '"' would let the rest of this value become a key of its own.
        AgentReply reply = await client.SendRawAsync(AgentCommands.Outcome.Name, """{"checkpointId":"x\";crac.cmd=fds;é ✓"}""", AgentClient.DefaultReplyTimeout, CancellationToken.None, retry: true);

        Assert.AreEqual(AgentErrorCode.NotFound, reply.Error?.Code);
        StringAssert.Contains(reply.Error!.Message, "No checkpoint with id x\";crac.cmd=fds;é ✓ is known");
    }

    [TestMethod]
    public async Task ARequestSentWhileTheAgentStillLeavesStartUpToTheAppIsAnsweredAtTheFirstAsking()
    {
        // The agent creates its EventSource only after the application's start-up (AgentHost):
        // a session opened before then enables it from inside its constructor, and its command
        // must be answered then, not lost until the client asks again.
        // The window is the agent's first 200 ms: on a loaded machine an app may only say it is
        // ready after it, so up to three apps are started to send one request inside it.
        for (int attempt = 1; attempt <= 3; attempt++)
        {
            using SampleProcess app = await SampleProcess.StartAsync();
            if (!Directory.EnumerateDirectories($"/proc/{app.Pid}/task").Any(IsAgentStartThread))
            {
                continue;
            }

            var client = new AgentClient(TargetProcess.Open(app.Pid));
            AgentReply reply = await client.SendRawAsync(AgentCommands.Status.Name, "{}", AgentClient.DefaultReplyTimeout, CancellationToken.None, retry: false);

            Assert.IsNull(reply.Error, reply.Error?.Message);
            Assert.AreEqual(AgentProtocol.Version, reply.ProtocolVersion);
            return;
        }

        Assert.Fail("in three apps, the agent had finished starting before the app said it was ready: this test never reached the window it is about");
    }

    [TestMethod]
    public void TheAgentsEventSourceDescribesEveryEventItHas()
    {
        // EventSource takes every void method without [NonEvent] for an event, private ones too;
        // one it cannot describe makes the source refuse every session, with no error anywhere.
        string? manifest = EventSource.GenerateManifest(typeof(Crac.Agent.AgentEventSource), "Crac.Agent.dll", EventManifestOptions.Strict);

        Assert.IsNotNull(manifest);
        foreach (string name in new[] { "Reply", "Heartbeat", "CheckpointStarted", "CheckpointPhase", "CheckpointCompleted", "Restored" })
        {
            StringAssert.Contains(manifest, $"symbol=\"{name}\"");
        }
    }

    // The kernel keeps a thread's first 15 characters of "crac-agent-start".
    private static bool IsAgentStartThread(string taskDirectory)
    {
        try
        {
            return File.ReadAllText(Path.Combine(taskDirectory, "comm")).Trim() == "crac-agent-star";
        }
        catch (IOException)
        {
            return false;  // the thread ended meanwhile
        }
    }

    [TestMethod]
    public async Task AMismatchedProtocolVersionIsRefusedByTheAgentAndNamed()
    {
        using SampleProcess app = await SampleProcess.StartAsync();
        var client = new AgentClient(TargetProcess.Open(app.Pid));

        AgentReply reply = await client.SendRawAsync(AgentCommands.Status.Name, "{}", AgentClient.DefaultReplyTimeout, CancellationToken.None, retry: true, protocolVersion: 99);

        Assert.AreEqual(AgentErrorCode.ProtocolMismatch, reply.Error?.Code);
        StringAssert.Contains(reply.Error!.Message, $"speaks protocol {AgentProtocol.Version}, but the request uses protocol '99'");
        Assert.AreEqual(AgentProtocol.Version, reply.ProtocolVersion);
    }

    [TestMethod]
    public async Task AnOversizedArgumentIsRefusedBeforeItIsSentAndTheAppIsUnaffected()
    {
        using SampleProcess app = await SampleProcess.StartAsync();

        ToolResult result = await ToolRun.RunAsync("checkpoint", app.Pid.ToString(), "--engine-options", new string('x', 40_000));

        Assert.AreEqual(1, result.ExitCode, result.ToString());
        StringAssert.Contains(result.Stderr, "The arguments of 'checkpoint' are too large for the diagnostics channel");
        Assert.AreEqual(0, (await ToolRun.RunAsync("status", app.Pid.ToString())).ExitCode);
    }

    [TestMethod]
    public async Task AReplyLargerThanOneEventArrivesInChunks()
    {
        using SampleProcess app = await SampleProcess.StartAsync(["--leak-many", "600"]);

        ToolResult result = await ToolRun.RunAsync("fds", app.Pid.ToString(), "--format", "json");

        Assert.AreEqual(0, result.ExitCode, result.ToString());
        Assert.IsTrue(result.Stdout.Length > 3 * AgentProtocol.ReplyChunkChars, $"the reply should need several chunks: {result.Stdout.Length} chars");
        using var document = System.Text.Json.JsonDocument.Parse(result.Stdout);
        int depsFiles = document.RootElement.GetProperty("fds").EnumerateArray().Count(fd => fd.GetProperty("target").GetString()!.EndsWith("SampleApp.deps.json"));
        Assert.AreEqual(600, depsFiles);
    }

    [TestMethod]
    public async Task TwoToolsAtOnceEachGetTheirOwnReply()
    {
        using SampleProcess app = await SampleProcess.StartAsync();

        Task<ToolResult>[] runs =
        [
            ToolRun.RunAsync("status", app.Pid.ToString(), "--format", "json"),
            ToolRun.RunAsync("fds", app.Pid.ToString(), "--format", "json"),
            ToolRun.RunAsync("status", app.Pid.ToString(), "--format", "json"),
            ToolRun.RunAsync("checkpoint", app.Pid.ToString()),
        ];
        ToolResult[] results = await Task.WhenAll(runs);

        foreach (ToolResult result in results)
        {
            Assert.AreEqual(0, result.ExitCode, result.ToString());
        }

        StringAssert.Contains(results[0].Stdout, "\"checkpointability\"");
        StringAssert.Contains(results[1].Stdout, "\"fds\"");
        StringAssert.Contains(results[3].Stdout, "succeeded");
    }

    [TestMethod]
    public async Task ASessionLeftOpenByADeadClientIsClosedAndTheAppStaysHealthy()
    {
        using SampleProcess app = await SampleProcess.StartAsync();
        // The agent is up (it starts on a thread of its own), so the dead client's request reaches it.
        Assert.AreEqual(0, (await ToolRun.RunAsync("status", app.Pid.ToString())).ExitCode);
        await ProcessRunner.WaitUntilAsync(() => DiagnosticsSocket.CountConnections(app.Pid) == 0, TimeSpan.FromSeconds(5), "the status session to be closed");
        var arguments = new Dictionary<string, string>
        {
            [AgentProtocol.ArgumentKeys.Version] = AgentProtocol.Encode("1"),
            [AgentProtocol.ArgumentKeys.RequestId] = AgentProtocol.Encode("dead-client"),
            [AgentProtocol.ArgumentKeys.Command] = AgentProtocol.Encode(AgentCommands.Status.Name),
            [AgentProtocol.ArgumentKeys.Payload] = AgentProtocol.Encode("{}"),
        };
        var provider = new EventPipeProvider(AgentProtocol.ProviderName, EventLevel.Informational, (long)AgentProtocol.Keywords.Reply, arguments);

        // The connection closed without a stop: what a killed client leaves behind. (The session's
        // Dispose would send a stop first; a stop within a millisecond of the start can itself leave
        // the runtime's end open, a runtime race this test is not about.) The client hangs up only
        // after its reply came: a hang-up before it would be noticed by the reply's own write, and
        // the test would not show that anything else closes the connection.
        EventPipeSession session = new DiagnosticsClient(app.Pid).StartEventPipeSession([provider], requestRundown: false, circularBufferMB: 1);
        Assert.AreEqual(1, DiagnosticsSocket.CountSessions(app.Pid));
        using var source = new EventPipeEventSource(session.EventStream);
        var replied = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        source.Dynamic.All += data =>
        {
            // The reply's last chunk: nothing of it is left to write after the hang-up.
            if ((int)data.ID == AgentProtocol.EventIds.Reply && (int)data.PayloadByName("chunkIndex") == (int)data.PayloadByName("chunkCount") - 1)
            {
                replied.TrySetResult();
            }
        };
        Task processing = Task.Run(source.Process);
        await replied.Task.WaitAsync(TimeSpan.FromSeconds(10));
        session.EventStream.Dispose();
        try
        {
            await processing.WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (Exception reading) when (reading is not TimeoutException)
        {
            // The reader's stream was closed under it: that is the hang-up.
        }

        Assert.AreEqual(0, DiagnosticsSocket.CountSessions(app.Pid), "a connection whose client hung up is no session CRIU refuses");

        // The runtime's end stays open until it notices the client is gone; the agent makes it notice.
        await ProcessRunner.WaitUntilAsync(() => DiagnosticsSocket.CountConnections(app.Pid) == 0, TimeSpan.FromSeconds(10),
            () => $"the dead session to be closed:{ProcessRunner.DescribeDescriptors(app.Pid)}\n--- unix sockets\n{string.Join('\n', Crac.Interop.Procfs.ReadUnixSockets(app.Pid).Where(s => s.Path?.Contains("dotnet-diagnostic") == true))}\n--- output\n{app.Output}");
        Assert.AreEqual(0, (await ToolRun.RunAsync("checkpoint", app.Pid.ToString())).ExitCode);
    }

    [TestMethod]
    public async Task TheToolKilledMidCommandLeavesTheAppHealthyAndItsSessionClosed()
    {
        using SampleProcess app = await SampleProcess.StartAsync(["--slow-resource", "3000"]);
        string directory = Directory.CreateTempSubdirectory("crac-kill-").FullName;
        using Process tool = ProcessRunner.Start("dotnet", [Paths.Tool, "checkpoint", app.Pid.ToString()], Path.Combine(directory, "out"), null, null);
        await app.WaitForOutputAsync("slow-resource: draining");
        Thread.Sleep(300);
        tool.Kill(entireProcessTree: true);

        await ProcessRunner.WaitUntilAsync(() => DiagnosticsSocket.CountConnections(app.Pid) == 0, TimeSpan.FromSeconds(10), "the killed tool's session to be closed");
        await ProcessRunner.WaitUntilAsync(() => app.Output.Contains("resource-1: after restore"), TimeSpan.FromSeconds(20), "the checkpoint to finish without the tool");
        ToolResult status = await ToolRun.RunAsync("status", app.Pid.ToString());
        StringAssert.Contains(status.Stdout, "Last checkpoint:      restored");
        Directory.Delete(directory, recursive: true);
    }

    [TestMethod]
    public async Task TracingUsersSeeCheckpointEventsAndRestoreCounters()
    {
        using SampleProcess app = await SampleProcess.StartAsync();
        var provider = new EventPipeProvider(
            AgentProtocol.ProviderName, EventLevel.Informational, (long)AgentProtocol.Keywords.Lifecycle,
            new Dictionary<string, string> { ["EventCounterIntervalSec"] = "1" });
        using EventPipeSession session = new DiagnosticsClient(app.Pid).StartEventPipeSession([provider], requestRundown: false, circularBufferMB: 4);
        var events = new List<string>();
        double restoreCount = -1;
        var source = new EventPipeEventSource(session.EventStream);
        source.Dynamic.All += data =>
        {
            lock (events)
            {
                events.Add(data.EventName);
                if (data.EventName == "EventCounters" && data.PayloadValue(0) is IDictionary<string, object> wrapper
                    && wrapper["Payload"] is IDictionary<string, object> counter && (string)counter["Name"] == "restore-count")
                {
                    restoreCount = Convert.ToDouble(counter["Mean"]);
                }
            }
        };
        Task processing = Task.Run(source.Process);

        ToolResult checkpoint = await ToolRun.RunAsync("checkpoint", app.Pid.ToString());
        await ProcessRunner.WaitUntilAsync(() => { lock (events) { return restoreCount >= 1; } }, TimeSpan.FromSeconds(15), "the restore-count counter to reach 1");
        session.Stop();
        await processing;

        Assert.AreEqual(0, checkpoint.ExitCode, checkpoint.ToString());
        CollectionAssert.IsSubsetOf(new[] { "CheckpointStarted", "CheckpointPhase", "CheckpointCompleted", "Restored" }, events.Distinct().ToArray(), string.Join(",", events.Distinct()));
    }
}
