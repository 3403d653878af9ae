using System.Runtime.CompilerServices;

namespace Crac.Tests.Lifecycle;

[TestClass]
public sealed class ResourceTests
{
    private static int _notifications;
    private static bool _failNext;

    [TestInitialize]
    public void Initialize() => Simulate.CollectGarbage();

    [TestMethod]
    public void AResourceMadeOfLambdasIsKeptAliveNotifiedAndNamedInFailures()
    {
        _notifications = 0;
        RegisterAndDropTheReference();
        Simulate.CollectGarbage();

        Simulate.Checkpoint();
        Assert.AreEqual(2, _notifications, "collected despite the registration, or not notified");

        _failNext = true;
        CheckpointException failure = Assert.ThrowsExactly<CheckpointException>(() => Simulate.Checkpoint(timeout: TimeSpan.FromMilliseconds(200)));
        _failNext = false;
        StringAssert.Contains(failure.Suppressed.Single().Message, "'lambda-resource'");
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void RegisterAndDropTheReference() =>
        Resource.Register(
            "lambda-resource",
            async cancellationToken =>
            {
                Interlocked.Increment(ref _notifications);
                if (_failNext)
                {
                    // Overruns the deadline: the failure names the resource.
                    await Task.Delay(TimeSpan.FromSeconds(30), cancellationToken);
                }
            },
            _ =>
            {
                Interlocked.Increment(ref _notifications);
                return Task.CompletedTask;
            });
}
