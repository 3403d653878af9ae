using Crac.Engines;
using Crac.Engines.Criu;

namespace Crac.Tests;

[TestClass]
public sealed class CriuCommandLineTests
{
    [TestMethod]
    public void TheDumpLogsAtTheChosenLevel()
    {
        var settings = new CriuSettings();
        CollectionAssert.Contains(CriuCommandLine.Dump(42, "/img", settings, keepRunning: false), "-v2");
        CollectionAssert.Contains(CriuCommandLine.Dump(42, "/img", settings with { LogLevel = 4 }, keepRunning: true), "-v4");
    }

    [TestMethod]
    public void AFinishedDumpIsToldByCriusStatsFileOrItsLogsLastLine()
    {
        string image = Directory.CreateTempSubdirectory("crac-dumpfinished-").FullName;
        try
        {
            // At the default level CRIU's log has no success line: its stats file says the dump finished.
            File.WriteAllText(Path.Combine(image, CriuCommandLine.DumpLog), "Warn (criu/kerndat.c:1): Can't keep kdat cache on non-tempfs\n");
            Assert.IsFalse(CriuLog.DumpFinished(image), "a log without its success line, and no stats: not finished");
            File.WriteAllBytes(Path.Combine(image, CriuLog.DumpStats), [0x01]);
            Assert.IsTrue(CriuLog.DumpFinished(image));

            File.Delete(Path.Combine(image, CriuLog.DumpStats));
            File.WriteAllText(Path.Combine(image, CriuCommandLine.DumpLog), "(00.132588) Dumping finished successfully\n");
            Assert.IsTrue(CriuLog.DumpFinished(image), "a log at -v3 and above says it too");
            Assert.AreEqual(ManifestStatus.Absent, ImageManifest.Verify(image).Status);
        }
        finally
        {
            Directory.Delete(image, recursive: true);
        }
    }

    [TestMethod]
    public void ARestoreRefusedBecauseAPortIsTakenSaysWhatToStop()
    {
        string log = Path.Combine(Path.GetTempPath(), $"criu-restore-{Guid.NewGuid():N}.log");
        File.WriteAllText(log, "1: Error (criu/sk-inet.c:1059): inet: Can't bind inet socket (id 212): Address already in use\nError (criu/cr-restore.c:2331): Restoring FAILED.\n");
        try
        {
            string message = CriuLog.Summarize("restore", 1, log, output: string.Empty);

            StringAssert.Contains(message, "CRIU restore failed (exit code 1):\n1: Error (criu/sk-inet.c:1059): inet: Can't bind inet socket (id 212): Address already in use");
            StringAssert.Contains(message, "Fix: A port the image's sockets are bound to is taken on this host");
        }
        finally
        {
            File.Delete(log);
        }
    }
}
