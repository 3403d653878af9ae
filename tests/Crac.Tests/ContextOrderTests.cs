using System.Collections.Concurrent;
using Crac.Coordination;

namespace Crac.Tests;

/// <summary>Port of CRaC's ContextOrderTest: notification order, tiers and registration rules.</summary>
[TestClass]
public sealed class ContextOrderTests
{
    [TestInitialize]
    public void Initialize() => Simulate.CollectGarbage();

    [TestMethod]
    public void CheckpointRunsInReverseRegistrationOrderAndRestoreInForwardOrder()
    {
        var recorder = new ConcurrentQueue<string>();
        var one = new RecordingResource(recorder, "one");
        var two = new RecordingResource(recorder, "two");
        var three = new RecordingResource(recorder, "three");
        Core.GlobalContext.Register(one);
        Core.GlobalContext.Register(two);
        Core.GlobalContext.Register(three);

        Simulate.Checkpoint();

        CollectionAssert.AreEqual(
            new[] { "three-before", "two-before", "one-before", "one-after", "two-after", "three-after" },
            recorder.Drain());
        GC.KeepAlive(new object[] { one, two, three });
    }

    [TestMethod]
    public void RuntimeTiersRunAfterTheApplicationAtCheckpointAndBeforeItAtRestore()
    {
        var recorder = new ConcurrentQueue<string>();
        var fds = new RecordingResource(recorder, "fds");
        var agent = new RecordingResource(recorder, "agent");
        var user = new RecordingResource(recorder, "user");
        // Registered runtime-first on purpose: the tier, not the registration time, decides.
        Coordinator.Global.FileDescriptors.Register(fds);
        Coordinator.Global.Agent.Register(agent);
        Core.GlobalContext.Register(user);

        Simulate.Checkpoint();

        CollectionAssert.AreEqual(
            new[] { "user-before", "agent-before", "fds-before", "fds-after", "agent-after", "user-after" },
            recorder.Drain());
        GC.KeepAlive(new object[] { fds, agent, user });
    }

    [TestMethod]
    public void TheRehearsalOfTheNotificationsTellsNoRegisteredResource()
    {
        var recorder = new ConcurrentQueue<string>();
        var agent = new RecordingResource(recorder, "agent");
        var user = new RecordingResource(recorder, "user");
        Coordinator.Global.Agent.Register(agent);
        Core.GlobalContext.Register(user);

        Coordinator.RehearseNotifications();
        Assert.AreEqual(0, recorder.Count, "a rehearsal runs on a private context");

        Simulate.Checkpoint();
        CollectionAssert.AreEqual(new[] { "user-before", "agent-before", "agent-after", "user-after" }, recorder.Drain(), "and leaves the global one as it was");
        GC.KeepAlive(new object[] { agent, user });
    }

    [TestMethod]
    public void EveryResourceIsNotifiedAndEveryFailureIsReportedWhenSomeThrow()
    {
        var recorder = new ConcurrentQueue<string>();
        var resources = new RecordingResource[]
        {
            new(recorder, "regular1"),
            new ThrowingResource(recorder, "throwing1"),
            new(recorder, "regular2"),
        };
        var runtimeRegular = new RecordingResource(recorder, "runtime1");
        var runtimeThrowing = new ThrowingResource(recorder, "throwing2");
        foreach (RecordingResource resource in resources)
        {
            Core.GlobalContext.Register(resource);
        }

        Coordinator.Global.Agent.Register(runtimeRegular);
        Coordinator.Global.Agent.Register(runtimeThrowing);

        CheckpointException failure = Assert.ThrowsExactly<CheckpointException>(() => Simulate.Checkpoint());

        // Two before-checkpoint failures, and the two after-restore failures of the rollback.
        CollectionAssert.AreEquivalent(
            new[] { "throwing1-before", "throwing2-before", "throwing2-after", "throwing1-after" },
            failure.Suppressed.Select(e => e.Message).ToArray());
        string[] order = [.. recorder.Drain()];
        CollectionAssert.AreEqual(
            new[] { "regular2-before", "throwing1-before", "regular1-before", "throwing2-before", "runtime1-before" },
            order[..5]);
        // The runtime's tier is told of the restore all at once; the application's tier after it, in order.
        CollectionAssert.AreEquivalent(new[] { "runtime1-after", "throwing2-after" }, order[5..7]);
        CollectionAssert.AreEqual(new[] { "regular1-after", "throwing1-after", "regular2-after" }, order[7..]);
        GC.KeepAlive(new object[] { resources, runtimeRegular, runtimeThrowing });
    }

    [TestMethod]
    public void RegisteringIntoTheContextBeingNotifiedFailsTheCheckpoint()
    {
        var recorder = new ConcurrentQueue<string>();
        var registering = new RegisteringResource(recorder, "registering", Core.GlobalContext, registerBefore: true);
        Core.GlobalContext.Register(registering);

        CheckpointException failure = Assert.ThrowsExactly<CheckpointException>(() => Simulate.Checkpoint());

        Exception only = failure.Suppressed.Single();
        Assert.IsInstanceOfType<InvalidOperationException>(only);
        StringAssert.Contains(only.Message, "while that context is being notified of a checkpoint");
        CollectionAssert.AreEqual(new[] { "registering-before", "registering-after" }, recorder.Drain());
        GC.KeepAlive(registering);
    }

    [TestMethod]
    public void AResourceRegisteredDuringAfterRestoreIsNotifiedFromTheNextCheckpointOn()
    {
        var recorder = new ConcurrentQueue<string>();
        var registering = new RegisteringResource(recorder, "parent", Core.GlobalContext, registerBefore: false);
        Core.GlobalContext.Register(registering);

        Simulate.Checkpoint();
        CollectionAssert.AreEqual(new[] { "parent-before", "parent-after" }, recorder.Drain());

        Simulate.Checkpoint();
        CollectionAssert.AreEqual(
            new[] { "parent-child-before", "parent-before", "parent-after", "parent-child-after" },
            recorder.Drain());
        GC.KeepAlive(registering);
    }

    [TestMethod]
    public void RegisteringIntoANestedContextThatAlreadyRanIsRefusedButAllowedFromAfterRestore()
    {
        var recorder = new ConcurrentQueue<string>();
        var first = new OrderedContext("c1");
        var second = new OrderedContext("c2");
        Core.GlobalContext.Register(first);
        Core.GlobalContext.Register(second);
        var plain = new RecordingResource(recorder, "first");
        second.Register(plain);
        var registering = new RegisteringResource(recorder, "second", second, registerBefore: true);
        first.Register(registering);

        CheckpointException failure = Assert.ThrowsExactly<CheckpointException>(() => Simulate.Checkpoint());
        Assert.HasCount(1, failure.Suppressed, failure.ToString());
        recorder.Drain();

        // The resource registered its child again from after-restore: the next checkpoint has it.
        Simulate.Checkpoint();
        CollectionAssert.AreEqual(
            new[] { "second-child-before", "first-before", "second-before", "second-after", "first-after", "second-child-after" },
            recorder.Drain());
        GC.KeepAlive(new object[] { first, second, plain, registering });
    }

    [TestMethod]
    public void ARegistrationFromAnotherThreadDuringACheckpointWaitsForTheRestore()
    {
        var recorder = new ConcurrentQueue<string>();
        using var inCheckpoint = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var blocking = new BlockingResource(recorder, "blocking", inCheckpoint, release);
        Core.GlobalContext.Register(blocking);
        var late = new RecordingResource(recorder, "late");

        Task checkpoint = Task.Run(() => Simulate.Checkpoint());
        Assert.IsTrue(inCheckpoint.Wait(TimeSpan.FromSeconds(10)));
        Task registration = Task.Run(() => Core.GlobalContext.Register(late));
        Assert.IsFalse(registration.Wait(TimeSpan.FromMilliseconds(200)), "A registration during a checkpoint must wait for the restore.");

        release.Set();
        checkpoint.GetAwaiter().GetResult();
        registration.GetAwaiter().GetResult();
        CollectionAssert.AreEqual(new[] { "blocking-before", "blocking-after" }, recorder.Drain());

        Simulate.Checkpoint();
        CollectionAssert.Contains(recorder.Drain(), "late-before");
        GC.KeepAlive(new object[] { blocking, late });
    }

    /// <summary>
    /// Registers a child into a context: first from its before-checkpoint when asked to (which the
    /// context refuses), and otherwise, or after that refusal, from its after-restore.
    /// </summary>
    private sealed class RegisteringResource(ConcurrentQueue<string> recorder, string id, Context target, bool registerBefore)
        : RecordingResource(recorder, id)
    {
        private RecordingResource? _child;

        public override async Task BeforeCheckpointAsync(Context context, CancellationToken cancellationToken)
        {
            await base.BeforeCheckpointAsync(context, cancellationToken);
            if (registerBefore && _child is null)
            {
                RegisterChild();
            }
        }

        public override async Task AfterRestoreAsync(Context context, CancellationToken cancellationToken)
        {
            await base.AfterRestoreAsync(context, cancellationToken);
            if (_child is null)
            {
                RegisterChild();
            }
        }

        private void RegisterChild()
        {
            var child = new RecordingResource(Recorder, Id + "-child");
            target.Register(child);
            _child = child;
        }
    }

    [TestMethod]
    public void TheAgentsTierIsToldOfARestoreAllAtOnceAndTheApplicationAfterAllOfIt()
    {
        var recorder = new ConcurrentQueue<string>();
        // Each waits, in its after-restore, for the other's to have started: told one by one, the
        // first would wait out its 5 s and see nothing.
        using var firstStarted = new ManualResetEventSlim();
        using var secondStarted = new ManualResetEventSlim();
        var first = new RendezvousResource(recorder, "runtime1", firstStarted, secondStarted);
        var second = new RendezvousResource(recorder, "runtime2", secondStarted, firstStarted);
        var user = new RecordingResource(recorder, "user");
        Coordinator.Global.Agent.Register(first);
        Coordinator.Global.Agent.Register(second);
        Core.GlobalContext.Register(user);

        Simulate.Checkpoint();

        Assert.IsTrue(first.SawOther && second.SawOther, "both after-restores ran at the same time");
        Assert.AreEqual("user-after", recorder.Drain()[^1], "the application's tier waits for the whole agent's tier");
        GC.KeepAlive(new object[] { first, second, user });
    }

    private sealed class RendezvousResource(
        ConcurrentQueue<string> recorder, string id, ManualResetEventSlim started, ManualResetEventSlim otherStarted)
        : RecordingResource(recorder, id)
    {
        public bool SawOther { get; private set; }

        public override async Task AfterRestoreAsync(Context context, CancellationToken cancellationToken)
        {
            started.Set();
            SawOther = otherStarted.Wait(TimeSpan.FromSeconds(5), cancellationToken);
            await base.AfterRestoreAsync(context, cancellationToken);
        }
    }

    private sealed class BlockingResource(
        ConcurrentQueue<string> recorder, string id, ManualResetEventSlim entered, ManualResetEventSlim release)
        : RecordingResource(recorder, id)
    {
        public override async Task BeforeCheckpointAsync(Context context, CancellationToken cancellationToken)
        {
            await base.BeforeCheckpointAsync(context, cancellationToken);
            entered.Set();
            release.Wait(TimeSpan.FromSeconds(10), cancellationToken);
        }
    }
}
