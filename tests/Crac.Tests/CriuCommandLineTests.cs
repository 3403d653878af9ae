using Crac.Engines.Criu;

namespace Crac.Tests;

[TestClass]
public sealed class CriuCommandLineTests
{
    [TestMethod]
    public void TheToolsDumpLogsAtTheChosenLevelAndAProcessDumpingItselfAtThreeAtLeast()
    {
        // Only a self-dump's log must end with CRIU's success line (level 3 and above): nobody writes its manifest.
        var settings = new CriuSettings();
        CollectionAssert.Contains(CriuCommandLine.Dump(42, "/img", settings, keepRunning: false, selfDump: false), "-v2");
        CollectionAssert.Contains(CriuCommandLine.Dump(42, "/img", settings, keepRunning: false, selfDump: true), "-v3");
        CollectionAssert.Contains(CriuCommandLine.Dump(42, "/img", settings with { LogLevel = 4 }, keepRunning: false, selfDump: true), "-v4");
        CollectionAssert.Contains(CriuCommandLine.Dump(42, "/img", settings with { LogLevel = 0 }, keepRunning: true, selfDump: false), "-v0");
    }
}
