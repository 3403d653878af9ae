using System.Runtime.CompilerServices;

namespace Crac.Tests;

/// <summary>The global context holds resources weakly; the seed's Tips and Tricks pitfall and its remedy.</summary>
[TestClass]
public sealed class RegistrationLifetimeTests
{
    private static int _lostNotifications;
    private static int _keptNotifications;

    [TestInitialize]
    public void Initialize() => Simulate.CollectGarbage();

    [TestMethod]
    public void AResourceNothingReferencesIsCollectedAndNoLongerNotified()
    {
        _lostNotifications = 0;
        WeakReference registered = RegisterAndLoseALambdaResource();
        Simulate.CollectGarbage();

        Simulate.Checkpoint();

        Assert.IsFalse(registered.IsAlive, "the global context must not keep a registered resource alive");
        Assert.AreEqual(0, _lostNotifications);
    }

    [TestMethod]
    public void KeepAliveRegistrationSurvivesCollection()
    {
        _keptNotifications = 0;
        RegisterAndKeepALambdaResource();
        Simulate.CollectGarbage();

        Simulate.Checkpoint();

        Assert.AreEqual(2, _keptNotifications, "a kept-alive resource gets both notifications");
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference RegisterAndLoseALambdaResource()
    {
        var resource = new DelegateResource(() => _lostNotifications++, () => _lostNotifications++);
        Core.GlobalContext.Register(resource);
        return new WeakReference(resource);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void RegisterAndKeepALambdaResource() =>
        Core.GlobalContext.Register(new DelegateResource(() => _keptNotifications++, () => _keptNotifications++), keepAlive: true);
}
