using System.Collections.Concurrent;
using System.Diagnostics;

namespace Crac.Tests;

/// <summary>Ports of CRaC's FailedResourceTest, DryRunTest, RecursiveCheckpointTest and CracTimeoutTest.</summary>
[TestClass]
public sealed class FailureTests
{
    private const string FailureMessage = "Resource failed";

    [TestInitialize]
    public void Initialize() => Simulate.CollectGarbage();

    [TestMethod]
    public void AFailingResourceFailsTheCheckpointWithOneSuppressedExceptionAndStillRestores()
    {
        bool ranAfter = false;
        var resource = new DelegateResource(() => throw new IOException(FailureMessage), () => ranAfter = true);
        Core.GlobalContext.Register(resource);
        int generation = Core.Status.Generation;

        CheckpointException failure = Assert.ThrowsExactly<CheckpointException>(() => Simulate.Checkpoint());

        Assert.HasCount(1, failure.Suppressed);
        Assert.AreEqual(FailureMessage, failure.Suppressed[0].Message);
        Assert.IsInstanceOfType<IOException>(failure.Suppressed[0]);
        Assert.IsTrue(ranAfter, "after-restore must run for a resource whose before-checkpoint threw");
        Assert.AreEqual(generation, Core.Status.Generation, "a failed checkpoint is not a restore");
        Assert.AreEqual("failed", Core.Status.LastCheckpointOutcome);
        StringAssert.Contains(Core.Status.LastCheckpointError, FailureMessage);
        GC.KeepAlive(resource);
    }

    [TestMethod]
    public void AFailingRestoreIsARestoreExceptionAfterASuccessfulCheckpoint()
    {
        var resource = new DelegateResource(() => { }, () => throw new InvalidOperationException("cannot reconnect"));
        Core.GlobalContext.Register(resource);

        RestoreException failure = Assert.ThrowsExactly<RestoreException>(() => Simulate.Checkpoint());

        Assert.AreEqual("cannot reconnect", failure.Suppressed.Single().Message);
        Assert.AreEqual("restore-failed", Core.Status.LastCheckpointOutcome);
        GC.KeepAlive(resource);
    }

    [TestMethod]
    public void DryRunReportsEveryProblemAtOnceTakesNoImageAndRestoresEveryResource()
    {
        var recorder = new ConcurrentQueue<string>();
        var first = new ThrowingResource(recorder, "first");
        var second = new ThrowingResource(recorder, "second");
        var healthy = new RecordingResource(recorder, "healthy");
        Core.GlobalContext.Register(first);
        Core.GlobalContext.Register(healthy);
        Core.GlobalContext.Register(second);
        int generation = Core.Status.Generation;

        CheckpointException failure = Assert.ThrowsExactly<CheckpointException>(() => Simulate.Checkpoint(dryRun: true));

        CollectionAssert.IsSubsetOf(new[] { "first-before", "second-before" }, failure.Suppressed.Select(e => e.Message).ToArray());
        CollectionAssert.AreEquivalent(
            new[] { "second-before", "healthy-before", "first-before", "first-after", "healthy-after", "second-after" },
            recorder.Drain());
        Assert.AreEqual(generation, Core.Status.Generation, "a dry run takes no image and is no restore");
        GC.KeepAlive(new object[] { first, second, healthy });
    }

    [TestMethod]
    public void ACleanDryRunPassesWithoutCountingARestore()
    {
        var recorder = new ConcurrentQueue<string>();
        var resource = new RecordingResource(recorder, "r");
        Core.GlobalContext.Register(resource);
        int generation = Core.Status.Generation;

        Simulate.Checkpoint(dryRun: true);

        CollectionAssert.AreEqual(new[] { "r-before", "r-after" }, recorder.Drain());
        Assert.AreEqual(generation, Core.Status.Generation);
        Assert.AreEqual("dry-run-passed", Core.Status.LastCheckpointOutcome);
        GC.KeepAlive(resource);
    }

    [TestMethod]
    public void ARecursiveCheckpointFromBeforeCheckpointOrAfterRestoreFailsClearly()
    {
        var recursive = new RecursiveResource();
        Core.GlobalContext.Register(recursive);

        Simulate.Checkpoint();

        Assert.HasCount(2, recursive.Failures);
        foreach (CheckpointException failure in recursive.Failures)
        {
            StringAssert.Contains(failure.Suppressed.Single().Message, "Recursive checkpoint is not allowed");
        }

        GC.KeepAlive(recursive);
    }

    [TestMethod]
    public void AConcurrentCheckpointFailsClearlyWhileTheFirstSucceeds()
    {
        using var entered = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var slow = new DelegateResource(
            () =>
            {
                entered.Set();
                release.Wait(TimeSpan.FromSeconds(10));
            },
            () => { });
        Core.GlobalContext.Register(slow);

        Task first = Task.Run(() => Simulate.Checkpoint());
        Assert.IsTrue(entered.Wait(TimeSpan.FromSeconds(10)));
        CheckpointException concurrent = Assert.ThrowsExactly<CheckpointException>(() => Task.Run(() => Simulate.Checkpoint()).GetAwaiter().GetResult());
        release.Set();
        first.GetAwaiter().GetResult();

        StringAssert.Contains(concurrent.Suppressed.Single().Message, "A checkpoint is already in progress");
        Assert.AreEqual("restored", Core.Status.LastCheckpointOutcome, "the refused call must not overwrite the running checkpoint's outcome");
        GC.KeepAlive(slow);
    }

    [TestMethod]
    public void AResourceThatOverrunsTheTimeoutFailsTheCheckpointByNameAndTheOthersRollBack()
    {
        var recorder = new ConcurrentQueue<string>();
        var early = new RecordingResource(recorder, "registered-first");
        var notified = new RecordingResource(recorder, "registered-last");
        var hung = new HungResource(recorder);
        Core.GlobalContext.Register(early);
        Core.GlobalContext.Register(hung);
        Core.GlobalContext.Register(notified);

        var stopwatch = Stopwatch.StartNew();
        CheckpointException failure = Assert.ThrowsExactly<CheckpointException>(() => Simulate.Checkpoint(timeout: TimeSpan.FromMilliseconds(300)));

        TimeoutException timeout = (TimeoutException)failure.Suppressed.Single();
        StringAssert.Contains(timeout.Message, "'hung-resource'");
        StringAssert.Contains(timeout.Message, "within the checkpoint timeout of 300 ms");
        Assert.IsFalse(hung.Finished, "the checkpoint must give up before the hung resource finishes");
        // registered-last was notified and rolled back; registered-first was never reached.
        CollectionAssert.AreEqual(new[] { "registered-last-before", "hung-before", "registered-last-after" }, recorder.Drain());
        Assert.IsTrue(stopwatch.Elapsed < HungResource.HangTime);
        GC.KeepAlive(new object[] { early, hung, notified });
    }

    [TestMethod]
    public void TheCancellationTokenFiresAtTheTimeoutSoACooperativeResourceFailsFast()
    {
        var cooperative = new CooperativeResource();
        Core.GlobalContext.Register(cooperative);

        CheckpointException failure = Assert.ThrowsExactly<CheckpointException>(() => Simulate.Checkpoint(timeout: TimeSpan.FromMilliseconds(200)));

        Assert.IsTrue(cooperative.SawCancellation);
        Assert.IsTrue(failure.Suppressed.Any(e => e is TimeoutException), string.Join("; ", failure.Suppressed.Select(e => e.Message)));
        Assert.IsTrue(cooperative.RolledBack, "a resource that honoured the cancellation gets its after-restore");
        GC.KeepAlive(cooperative);
    }

    private sealed class RecursiveResource : IResource
    {
        public List<CheckpointException> Failures { get; } = [];

        public Task BeforeCheckpointAsync(Context context, CancellationToken cancellationToken) => TryRecurse();

        public Task AfterRestoreAsync(Context context, CancellationToken cancellationToken) => TryRecurse();

        private Task TryRecurse()
        {
            try
            {
                Core.CheckpointRestore();
                Assert.Fail("A recursive checkpoint must fail");
            }
            catch (CheckpointException failure)
            {
                Failures.Add(failure);
            }

            return Task.CompletedTask;
        }
    }

    private sealed class HungResource(ConcurrentQueue<string> recorder) : IResource
    {
        public static readonly TimeSpan HangTime = TimeSpan.FromSeconds(20);

        private int _calls;

        public bool Finished { get; private set; }

        public Task BeforeCheckpointAsync(Context context, CancellationToken cancellationToken)
        {
            recorder.Enqueue("hung-before");
            // Hangs once, ignoring its token on purpose. The sleeping call keeps the resource
            // reachable for a while, so later tests' checkpoints may still notify it: those
            // calls return at once.
            if (Interlocked.Increment(ref _calls) == 1)
            {
                Thread.Sleep(HangTime);
                Finished = true;
            }

            return Task.CompletedTask;
        }

        public Task AfterRestoreAsync(Context context, CancellationToken cancellationToken)
        {
            recorder.Enqueue("hung-after");
            return Task.CompletedTask;
        }

        public override string ToString() => "hung-resource";
    }

    private sealed class CooperativeResource : IResource
    {
        public bool SawCancellation { get; private set; }

        public bool RolledBack { get; private set; }

        public async Task BeforeCheckpointAsync(Context context, CancellationToken cancellationToken)
        {
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(30), cancellationToken);
            }
            catch (OperationCanceledException)
            {
                SawCancellation = true;
                throw;
            }
        }

        public Task AfterRestoreAsync(Context context, CancellationToken cancellationToken)
        {
            RolledBack = true;
            return Task.CompletedTask;
        }
    }
}
