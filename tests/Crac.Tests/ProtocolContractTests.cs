using System.Text.Json;
using Crac.Configuration;
using Crac.Coordination;
using Crac.Engines;
using Crac.Protocol;

namespace Crac.Tests;

/// <summary>The contract shared by agent and tool: one definition per command, typed values that survive the wire exactly.</summary>
[TestClass]
public sealed class ProtocolContractTests
{
    [TestMethod]
    public void ACheckpointRequestCarriesItsTimeoutExactlyUnsetInfiniteOrADuration()
    {
        string unset = AgentCommands.Checkpoint.SerializeRequest(new CheckpointRequest());
        string infinite = AgentCommands.Checkpoint.SerializeRequest(new CheckpointRequest { Timeout = Timeout.InfiniteTimeSpan });
        string twoSeconds = AgentCommands.Checkpoint.SerializeRequest(new CheckpointRequest { Timeout = TimeSpan.FromSeconds(2) });

        Assert.IsNull(AgentCommands.Checkpoint.DeserializeRequest(unset).Timeout);
        StringAssert.Contains(infinite, "\"timeout\":\"infinite\"");
        Assert.AreEqual(Timeout.InfiniteTimeSpan, AgentCommands.Checkpoint.DeserializeRequest(infinite).Timeout);
        StringAssert.Contains(twoSeconds, "\"timeout\":2000");
        Assert.AreEqual(TimeSpan.FromSeconds(2), AgentCommands.Checkpoint.DeserializeRequest(twoSeconds).Timeout);
    }

    [TestMethod]
    public void AnInfiniteTimeoutFromTheToolOverridesTheProcesssEnvironmentAndAnUnsetOneDoesNot()
    {
        Environment.SetEnvironmentVariable(CracEnvironment.CheckpointTimeout, "5s");
        try
        {
            ResolvedCheckpointOptions infinite = CheckpointSettings.Resolve(
                AgentCommands.Checkpoint.DeserializeRequest(AgentCommands.Checkpoint.SerializeRequest(new CheckpointRequest { Timeout = Timeout.InfiniteTimeSpan })).ToOptions());
            ResolvedCheckpointOptions unset = CheckpointSettings.Resolve(
                AgentCommands.Checkpoint.DeserializeRequest(AgentCommands.Checkpoint.SerializeRequest(new CheckpointRequest())).ToOptions());

            Assert.AreEqual(Timeout.InfiniteTimeSpan, infinite.Timeout);
            Assert.IsTrue(infinite.Limits.IsInfinite);
            Assert.AreEqual(Timeout.InfiniteTimeSpan, infinite.Limits.CheckpointDeadline, "nothing bounds a checkpoint the operator asked to wait for");
            Assert.AreEqual(TimeSpan.FromSeconds(5), unset.Timeout);
        }
        finally
        {
            Environment.SetEnvironmentVariable(CracEnvironment.CheckpointTimeout, null);
        }
    }

    [TestMethod]
    public void EveryWaitOfACheckpointDerivesFromItsTimeoutByOneRule()
    {
        CheckpointLimits limits = CheckpointLimits.For(TimeSpan.FromSeconds(2));

        // The tool reads the limits off the acceptance; what it derives must be what the process derives.
        JsonElement wire = AgentCommands.Checkpoint.SerializeReply(new CheckpointReply("id", "criu", limits));
        CheckpointLimits received = AgentCommands.Checkpoint.DeserializeReply(wire).Limits;

        Assert.AreEqual(limits, received);
        Assert.AreEqual(limits.CheckpointDeadline, received.CheckpointDeadline);
        Assert.IsTrue(limits.PassDeadline > limits.ResourceTimeout + limits.GracePeriod, "a pass ends after its resources' timeout and grace");
        Assert.AreEqual(limits.PassDeadline + limits.DumpWait + limits.PassDeadline, limits.CheckpointDeadline);
        Assert.IsTrue(limits.DumpWait > limits.DumpTimeout, "a parked process outwaits CRIU's own limit before it rolls back");
    }

    [TestMethod]
    public void EnumsTravelAsTheirNamesAndAnUnknownNameIsRefusedWithTheKnownOnes()
    {
        string json = AgentCommands.Resume.SerializeRequest(new ResumeRequest { Kind = ResumeKind.KeptRunning });
        var reply = new OutcomeReply { State = CheckpointState.WaitingForDump, Phase = CheckpointPhase.BeforeCheckpoint };

        StringAssert.Contains(json, "\"kind\":\"kept-running\"");
        StringAssert.Contains(AgentCommands.Outcome.SerializeReply(reply).GetRawText(), "\"state\":\"waiting-for-dump\",\"phase\":\"before-checkpoint\"");
        JsonException refused = Assert.ThrowsExactly<JsonException>(() => AgentCommands.Resume.DeserializeRequest("""{"kind":"sideways"}"""));
        StringAssert.Contains(refused.Message, "unknown resume kind 'sideways' (use restored, kept-running, dump-failed)");
        Assert.ThrowsExactly<JsonException>(() => AgentCommands.Resume.DeserializeRequest("""{"kind":1}"""), "numbers are not names");
        Assert.AreEqual("dry-run-passed", Diagnostics.WireNames.Of(CheckpointOutcome.DryRunPassed));
    }

    [TestMethod]
    public void EachCommandIsDefinedOnceWithItsRequestFieldsReadOffTheContract()
    {
        CollectionAssert.AreEqual(new[] { "help", "status", "fds", "checkpoint", "outcome", "resume" }, AgentCommands.All.Select(c => c.Name).ToArray());
        CollectionAssert.IsSubsetOf(new[] { "engine", "imageDirectory", "engineOptions", "dryRun", "keepRunning", "timeout" }, AgentCommands.Checkpoint.RequestFields.ToArray());
        Assert.AreEqual("checkpointId", AgentCommands.Outcome.Describe().Arguments);
        Assert.IsTrue(AgentCommands.All.Where(c => c.Idempotent).Select(c => c.Name).SequenceEqual(["help", "status", "fds", "outcome"]),
            "only requests that change nothing may be sent twice");
    }

    [TestMethod]
    public void EveryCommandsRequestAndReplyHaveTheirJsonMetadataInTheContext()
    {
        // Looked up on first use (not when the commands are defined), so a type missing from
        // CracJsonContext would only show at a command's first request.
        foreach (AgentCommand command in AgentCommands.All)
        {
            foreach (string property in new[] { "RequestType", "ReplyType" })
            {
                object? metadata = command.GetType().GetProperty(property)!.GetValue(command);
                Assert.IsInstanceOfType<System.Text.Json.Serialization.Metadata.JsonTypeInfo>(metadata, $"{command.Name}: {property}");
            }
        }
    }

    [TestMethod]
    public void WhatAResourceDidAutomaticallyReachesTheCheckpointsReportInOrder()
    {
        Simulate.CollectGarbage();
        var resource = new DelegateResource(() => CheckpointActions.Record("pool", "closed 2 idle connections"), () => { });
        Core.GlobalContext.Register(resource);

        CheckpointReport report = Coordinator.RunAsync(Simulate.Options(), CheckpointTrigger.Api, null, CancellationToken.None).GetAwaiter().GetResult();
        CheckpointReportMessage message = CheckpointReportMessage.From(report);

        Assert.AreEqual(CheckpointOutcome.Restored, report.Outcome);
        Assert.AreEqual(new CheckpointAction("pool", "closed 2 idle connections"), message.Actions.Single());
        StringAssert.Contains(AgentCommands.Outcome.SerializeReply(new OutcomeReply { State = CheckpointState.Done, Report = message }).GetRawText(),
            "\"actions\":[{\"source\":\"pool\",\"description\":\"closed 2 idle connections\"}]");
        Assert.IsEmpty(Coordinator.ActionsSoFar(), "outside a checkpoint nothing is recorded");
        CheckpointActions.Record("pool", "outside");
        GC.KeepAlive(resource);
    }
}
