using Crac.Engines;

namespace Crac.Tests;

/// <summary>
/// The restore's CPU check: an image made on a host restores on it, and a set that neither the
/// runtime nor /proc/cpuinfo shows is refused with the setting that avoids it.
/// </summary>
[TestClass]
public sealed class CpuFeatureTests
{
    [TestMethod]
    public void AnImageMadeOnThisHostNeedsNothingThisHostLacks()
    {
        // The image records what the runtime's JIT may use; the check reads this host both ways.
        IReadOnlyList<string> imageSets = ImageMetadata.UsableInstructionSets();
        Assert.IsTrue(imageSets.Count > 0);
        CollectionAssert.AreEqual(Array.Empty<string>(), CpuFeatures.Missing(imageSets).ToArray());
    }

    [TestMethod]
    public void CpuidFindsTheScalarSetsTheRuntimeFinds()
    {
        // What a tool compiled ahead of time relies on: its runtime reports only its build's baseline.
        IReadOnlyList<string> runtime = ImageMetadata.UsableInstructionSets();
        string[] scalar = ["Sse3", "Pclmulqdq", "Ssse3", "Sse41", "Sse42", "Popcnt", "Aes", "Bmi1", "Bmi2", "Lzcnt"];
        CollectionAssert.AreEquivalent(runtime.Intersect(scalar).ToArray(), CpuFeatures.ScalarSetsByCpuid().ToArray());
    }

    [TestMethod]
    public void ASetTheRuntimeReportsCountsEvenWhenCpuinfoHidesItsFlag()
    {
        // A hypervisor's cpuinfo without "abm" while CPUID reports LZCNT (an AMD EPYC guest).
        var cpuinfo = new HashSet<string>(StringComparer.Ordinal) { "sse", "sse2" };
        CollectionAssert.AreEqual(Array.Empty<string>(), CpuFeatures.Missing(["Sse", "Lzcnt"], cpuinfo, ["Sse", "Sse2", "Lzcnt"]).ToArray());
        // And the other way: the tool's runtime told to avoid a set the CPU has.
        CollectionAssert.AreEqual(Array.Empty<string>(), CpuFeatures.Missing(["Sse2"], cpuinfo, ["Sse"]).ToArray());
    }

    [TestMethod]
    public void ASetNeitherShowsIsMissingAndTheMessageNamesTheSettingThatAvoidsIt()
    {
        var cpuinfo = new HashSet<string>(StringComparer.Ordinal) { "sse", "avx2" };
        IReadOnlyList<string> missing = CpuFeatures.Missing(["Sse", "Avx2", "Avx512F", "Lzcnt"], cpuinfo, ["Sse", "Avx2"]);
        CollectionAssert.AreEqual(new[] { "Avx512F", "Lzcnt" }, missing.ToArray());
        string message = CpuFeatures.MissingMessage(missing);
        StringAssert.Contains(message, "Avx512F, Lzcnt");
        StringAssert.Contains(message, "DOTNET_EnableAVX512F=0 DOTNET_EnableLZCNT=0");
    }
}
