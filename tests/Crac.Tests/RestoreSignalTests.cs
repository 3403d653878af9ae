namespace Crac.Tests;

[TestClass]
public sealed class RestoreSignalTests
{
    [TestInitialize]
    public void Initialize() => Simulate.CollectGarbage();

    [TestMethod]
    public void TheCheckpointTokenFiresBeforeAnyResourceIsToldAndIsReplacedAfterTheRestore()
    {
        CancellationToken token = Core.CheckpointToken;
        bool cancelledWhenTold = false;
        var resource = new DelegateResource(() => cancelledWhenTold = token.IsCancellationRequested, () => { });
        Core.GlobalContext.Register(resource);
        Assert.IsFalse(token.IsCancellationRequested);

        Simulate.Checkpoint();

        Assert.IsTrue(cancelledWhenTold, "the token had not fired when the first resource was told");
        Assert.IsTrue(token.IsCancellationRequested);
        Assert.IsFalse(Core.CheckpointToken.IsCancellationRequested, "after the restore a fresh token takes its place");
        Assert.AreNotEqual(token, Core.CheckpointToken);
        GC.KeepAlive(resource);
    }

    [TestMethod]
    public void ADryRunDoesNotFireTheTokenNorRaiseRestored()
    {
        CancellationToken token = Core.CheckpointToken;
        int raised = 0;
        EventHandler handler = (_, _) => raised++;
        Core.Restored += handler;
        try
        {
            Simulate.Checkpoint(dryRun: true);
        }
        finally
        {
            Core.Restored -= handler;
        }

        Assert.IsFalse(token.IsCancellationRequested);
        Assert.AreEqual(0, raised);
    }

    [TestMethod]
    public void RestoredIsRaisedAfterEveryResourceWithANewGenerationAndInstanceId()
    {
        var order = new List<string>();
        var resource = new DelegateResource(() => { }, () => order.Add("resource"));
        Core.GlobalContext.Register(resource);
        int generation = Core.Generation;
        Guid instance = Core.InstanceId;
        (int Generation, Guid Instance)? seen = null;
        EventHandler handler = (_, _) =>
        {
            order.Add("event");
            seen = (Core.Generation, Core.InstanceId);
        };
        Core.Restored += handler;
        try
        {
            Simulate.Checkpoint();
        }
        finally
        {
            Core.Restored -= handler;
        }

        CollectionAssert.AreEqual(new[] { "resource", "event" }, order);
        Assert.AreEqual(generation + 1, seen?.Generation);
        Assert.AreNotEqual(instance, seen?.Instance);
        Assert.AreNotEqual(Guid.Empty, Core.InstanceId);
        Assert.AreEqual(Core.InstanceId, seen?.Instance);
        GC.KeepAlive(resource);
    }

    [TestMethod]
    public void AHandlerThatThrowsFailsTheRestoreAndTheOthersStillRun()
    {
        bool secondRan = false;
        EventHandler failing = (_, _) => throw new InvalidOperationException("handler failed");
        EventHandler second = (_, _) => secondRan = true;
        Core.Restored += failing;
        Core.Restored += second;
        try
        {
            RestoreException failure = Assert.ThrowsExactly<RestoreException>(() => Simulate.Checkpoint());
            Assert.AreEqual("handler failed", failure.Suppressed.Single().Message);
        }
        finally
        {
            Core.Restored -= failing;
            Core.Restored -= second;
        }

        Assert.IsTrue(secondRan);
    }

    [TestMethod]
    public void AFailedCheckpointRollsBackWithoutRaisingRestoredAndRenewsTheToken()
    {
        CancellationToken token = Core.CheckpointToken;
        Guid instance = Core.InstanceId;
        int raised = 0;
        EventHandler handler = (_, _) => raised++;
        var failing = new DelegateResource(() => throw new InvalidOperationException("no"), () => { });
        Core.GlobalContext.Register(failing);
        Core.Restored += handler;
        try
        {
            Assert.ThrowsExactly<CheckpointException>(() => Simulate.Checkpoint());
        }
        finally
        {
            Core.Restored -= handler;
        }

        Assert.AreEqual(0, raised);
        Assert.IsTrue(token.IsCancellationRequested, "the checkpoint began, so the token fired");
        Assert.IsFalse(Core.CheckpointToken.IsCancellationRequested);
        Assert.AreEqual(instance, Core.InstanceId, "the same process carries on: same instance");
        GC.KeepAlive(failing);
    }
}
