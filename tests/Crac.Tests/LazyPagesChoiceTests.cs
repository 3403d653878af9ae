using Crac.Engines.Criu;

namespace Crac.Tests;

/// <summary>When a restore goes lazily: by the option, the image's memory, and what this kernel allows one mapping.</summary>
[TestClass]
public sealed class LazyPagesChoiceTests
{
    [TestMethod]
    public void FalseAndASmallImageUnderAutoAreRestoredPlainlyWithoutLookingFurther()
    {
        Func<long> unread = () => throw new AssertFailedException("the image's areas are read only when lazy pages are wanted");
        Assert.AreEqual((false, (string?)null), LazyPages.Choose("false", 1L << 40, unread));
        Assert.AreEqual((false, (string?)null), LazyPages.Choose("auto", LazyPages.AutoThreshold - 1, unread));
    }

    [TestMethod]
    public void AnAreaTheKernelAllowsGoesLazilyAndOneItWouldRefuseSaysWhyAndHowToFixIt()
    {
        Assert.IsNull(LazyPages.Unavailable(), "userfaultfd works on this machine (criu check --feature uffd)");
        Assert.AreEqual((true, (string?)null), LazyPages.Choose("auto", LazyPages.AutoThreshold, () => 4L << 30));
        Assert.AreEqual((true, (string?)null), LazyPages.Choose("true", 0, () => 4L << 30));

        // The GC's reservation on a host without a memory limit, under heuristic overcommit on a host with less RAM.
        string mode = File.ReadAllText("/proc/sys/vm/overcommit_memory").Trim();
        (bool lazy, string? why) = LazyPages.Choose("true", 0, () => 1L << 50);
        Assert.AreEqual(mode == "1", lazy);
        if (mode != "1")
        {
            StringAssert.Contains(why, $"vm.overcommit_memory={mode}");
            StringAssert.Contains(why, "DOTNET_GCRegionRange");
        }
    }
}
