using System.Collections.Concurrent;
using Crac.Runtime;

namespace Crac.Tests;

[TestClass]
public sealed class RestoreFidelityTests
{
    [TestMethod]
    public void RandomsStateIsTheLayoutTheHeapWalkOverwrites() =>
        Assert.IsNull(RandomGenerators.CheckLayout(), "this runtime's Random.XoshiroImpl is not four ulongs after the method table: the reseed would be refused");

    [TestMethod]
    [DataRow("0-1", 2)]
    [DataRow("0-3,8,10-11", 7)]
    [DataRow("5", 1)]
    public void CpuListsAreCounted(string list, int count) => Assert.AreEqual(count, Cgroups.CountCpuList(list));

    [TestMethod]
    [DataRow("de_DE.UTF-8", "de-DE")]
    [DataRow("fr_CA@euro", "fr-CA")]
    [DataRow("C.UTF-8", null)]
    [DataRow("POSIX", null)]
    [DataRow("", null)]
    public void PosixLocalesNameCultures(string locale, string? culture) => Assert.AreEqual(culture, RestoredMachine.CultureName(locale));

    [TestMethod]
    public void TheAttachMessageIsTheDiagnosticsProtocolsAttachProfiler()
    {
        var clsid = new Guid("9C5D2A51-7E1B-4F0C-8D3A-6B2E4C1F0A97");
        byte[] message = ProfilerAttach.Build(clsid, "/a.so", 10);

        Assert.AreEqual("DOTNET_IPC_V1\0", System.Text.Encoding.ASCII.GetString(message, 0, 14));
        Assert.AreEqual(message.Length, BitConverter.ToUInt16(message, 14));
        Assert.AreEqual(0x03, message[16], "the profiler command set");
        Assert.AreEqual(0x01, message[17], "AttachProfiler");
        Assert.AreEqual(10u, BitConverter.ToUInt32(message, 20), "the timeout in seconds");
        Assert.AreEqual(clsid, new Guid(message.AsSpan(24, 16)));
        Assert.AreEqual(6u, BitConverter.ToUInt32(message, 40), "the path's length in UTF-16 units with its NUL");
        Assert.AreEqual("/a.so\0", System.Text.Encoding.Unicode.GetString(message, 44, 12));
        Assert.AreEqual(0u, BitConverter.ToUInt32(message, 56), "no client data");
        Assert.AreEqual(60, message.Length);
    }

    [TestMethod]
    public void ComparedWithWhatItSawBeforeTheRestoreTheProcessFixesTheZoneAndReportsTheRest()
    {
        MachineSnapshot now = MachineSnapshot.Capture();
        string? tz = Environment.GetEnvironmentVariable("TZ");
        Environment.SetEnvironmentVariable("TZ", "Asia/Tokyo");
        try
        {
            MachineSnapshot before = now with
            {
                LocalTimeZone = "Etc/UTC",
                HostName = "checkpoint-host",
                AllowedCpus = now.AllowedCpus + 2,
                WallClock = now.WallClock - TimeSpan.FromSeconds(30),
                Environment = new Dictionary<string, string>(now.Environment) { ["CRAC_TEST_GONE"] = "x" },
            };

            var findings = RestoredMachine.Compare(before).ToDictionary(f => f.Area);

            Assert.AreEqual(FidelityState.Fixed, findings["time zone"].State);
            StringAssert.Contains(findings["time zone"].Detail, "Etc/UTC at the checkpoint, Asia/Tokyo now (TZ=Asia/Tokyo)");
            Assert.AreEqual("Asia/Tokyo", TimeZoneInfo.Local.Id, "TimeZoneInfo's cache was cleared");
            Assert.AreEqual(FidelityState.Detected, findings["host name"].State);
            StringAssert.Contains(findings["host name"].Detail, "checkpoint-host at the checkpoint");
            Assert.AreEqual(FidelityState.Detected, findings["CPUs"].State);
            StringAssert.Contains(findings["CPUs"].Detail, $"Environment.ProcessorCount stays {Environment.ProcessorCount}");
            StringAssert.Contains(findings["clocks"].Detail, "moved on by the 30 s the process was down");
            Assert.AreEqual(FidelityState.Unchanged, findings["memory limit"].State);
            Assert.AreEqual(FidelityState.Detected, findings["environment (removed)"].State);
            StringAssert.Contains(findings["environment (removed)"].Detail, "CRAC_TEST_GONE");
            Assert.IsFalse(findings.Values.Any(f => f.Detail.Contains("=x", StringComparison.Ordinal)), "no variable's value is shown");
        }
        finally
        {
            Environment.SetEnvironmentVariable("TZ", tz);
            TimeZoneInfo.ClearCachedData();
        }
    }

    [TestMethod]
    public void TheRehearsalOfTheComparisonFixesNothingAndRecordsNothing()
    {
        TimeZoneInfo local = TimeZoneInfo.Local;
        string? tz = Environment.GetEnvironmentVariable("TZ");
        Environment.SetEnvironmentVariable("TZ", "Asia/Tokyo");
        try
        {
            IReadOnlyList<FidelityFinding> recorded = RestoreFidelity.Findings();

            RestoredMachine.Rehearse();

            Assert.AreSame(local, TimeZoneInfo.Local, "the rehearsal left TimeZoneInfo's cache alone (a restore's comparison clears it and would now read Asia/Tokyo)");
            CollectionAssert.AreEqual(recorded.ToList(), RestoreFidelity.Findings().ToList(), "nothing recorded");
        }
        finally
        {
            Environment.SetEnvironmentVariable("TZ", tz);
            TimeZoneInfo.ClearCachedData();
        }
    }
}
