using System.Collections.Concurrent;

namespace Crac.Tests.Lifecycle;

[TestClass]
public sealed class CheckpointLoopBarrierTests
{
    [TestInitialize]
    public void Initialize() => Simulate.CollectGarbage();

    [TestMethod]
    public void TheLoopParksBetweenItemsAndItemsPostedMeanwhileRunAfterTheRestoreInOrder()
    {
        using var loop = new EventLoop();
        var barrier = new CheckpointLoopBarrier("ui", loop.Post);
        bool windowOpen = false;
        var ran = new ConcurrentQueue<(int Item, bool InWindow)>();
        using var inWindow = new ManualResetEventSlim();
        var window = new DelegateResource(
            () =>
            {
                Volatile.Write(ref windowOpen, true);
                inWindow.Set();
                // Items posted now queue behind the barrier.
                for (int i = 100; i < 105; i++)
                {
                    int item = i;
                    loop.Post(() => ran.Enqueue((item, Volatile.Read(ref windowOpen))));
                }

                Thread.Sleep(50);
            },
            () => Volatile.Write(ref windowOpen, false));
        Core.GlobalContext.Register(window);
        Core.GlobalContext.Register(barrier);
        for (int i = 0; i < 50; i++)
        {
            int item = i;
            loop.Post(() =>
            {
                Thread.SpinWait(5_000);
                ran.Enqueue((item, Volatile.Read(ref windowOpen)));
            });
        }

        Simulate.Checkpoint(timeout: TimeSpan.FromSeconds(5));
        loop.Drain();

        Assert.IsTrue(inWindow.IsSet);
        Assert.IsFalse(ran.Any(r => r.InWindow), "an item ran while the loop should have been parked");
        CollectionAssert.AreEqual(Enumerable.Range(0, 50).Concat(Enumerable.Range(100, 5)).ToArray(), ran.Select(r => r.Item).ToArray());
        GC.KeepAlive(new object[] { barrier, window });
    }

    [TestMethod]
    public void ABusyLoopFailsTheCheckpointByNameAndTheLateBarrierDoesNotParkIt()
    {
        using var loop = new EventLoop();
        var barrier = new CheckpointLoopBarrier("ui", loop.Post);
        Core.GlobalContext.Register(barrier);
        using var release = new ManualResetEventSlim();
        loop.Post(() => release.Wait());

        CheckpointException failure = Assert.ThrowsExactly<CheckpointException>(() => Simulate.Checkpoint(timeout: TimeSpan.FromMilliseconds(300)));

        Exception loopFailure = failure.Suppressed.Single(e => e.Message.StartsWith("Checkpoint loop barrier", StringComparison.Ordinal));
        Assert.IsInstanceOfType<TimeoutException>(loopFailure);
        StringAssert.Contains(loopFailure.Message, "Checkpoint loop barrier 'ui' could not park its loop");
        release.Set();
        bool ranAfter = false;
        loop.Post(() => ranAfter = true);
        loop.Drain();
        Assert.IsTrue(ranAfter, "the abandoned barrier returns at once when the loop reaches it");
        Simulate.Checkpoint(timeout: TimeSpan.FromSeconds(5));
        GC.KeepAlive(barrier);
    }

    /// <summary>A single-threaded loop on a dedicated thread.</summary>
    private sealed class EventLoop : IDisposable
    {
        private readonly BlockingCollection<Action> _queue = [];
        private readonly Thread _thread;

        public EventLoop()
        {
            _thread = new Thread(() =>
            {
                foreach (Action item in _queue.GetConsumingEnumerable())
                {
                    item();
                }
            })
            { IsBackground = true, Name = "event-loop" };
            _thread.Start();
        }

        public void Post(Action item) => _queue.Add(item);

        /// <summary>Waits until everything posted so far has run.</summary>
        public void Drain()
        {
            using var done = new ManualResetEventSlim();
            Post(done.Set);
            Assert.IsTrue(done.Wait(TimeSpan.FromSeconds(10)), "the loop is stuck");
        }

        public void Dispose()
        {
            _queue.CompleteAdding();
            _thread.Join(TimeSpan.FromSeconds(10));
            _queue.Dispose();
        }
    }
}
