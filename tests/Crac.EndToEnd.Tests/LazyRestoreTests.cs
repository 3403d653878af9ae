using System.Globalization;
using System.Text.Json.Nodes;
using Crac.EndToEnd.Tests.Infrastructure;

namespace Crac.EndToEnd.Tests;

/// <summary>
/// Lazy restores (CRIU's lazy-pages daemon over userfaultfd) of an app holding real data: chosen by
/// the image's size, every byte back, the daemon gone once it has served them; and a lazy restore
/// the kernel would refuse (the GC's 256 GiB reservation under heuristic overcommit) predicted.
/// </summary>
[TestClass]
public sealed class LazyRestoreTests
{
    // Over Crac.Engines.Criu.LazyPages.AutoThreshold (96 MiB), so auto restores lazily.
    private const int LiveMegabytes = 120;

    [TestMethod]
    public async Task ALargeImageRestoresLazilyByDefaultWithEveryByteBackAndTheDaemonGoneAfter()
    {
        int port = Loopback.FreePort();
        using SampleProcess app = await SampleProcess.StartHeapAsync(port, LiveMegabytes);
        string before = await ChecksumAsync(port);
        string image = Path.Combine(app.Directory, "image");
        ToolResult checkpoint = await ToolRun.RunAsync("checkpoint", $"{app.Pid}", "--engine", "criu", "--image-dir", image);
        Assert.AreEqual(0, checkpoint.ExitCode, checkpoint.ToString());
        await app.WaitForExitAsync();

        ToolResult restore = await ToolRun.RunAsync("restore", image, "--format", "json");
        Assert.AreEqual(0, restore.ExitCode, restore.ToString());
        JsonNode lazy = JsonNode.Parse(restore.Stdout)!["lazyPages"]!;
        Assert.IsTrue((bool)lazy["lazy"]!, restore.Stdout);
        Assert.IsTrue((long)lazy["bytes"]! >= LiveMegabytes << 20, restore.Stdout);
        int daemon = (int)lazy["daemonPid"]!;

        // Every live byte, whether touched already or still to come from the daemon.
        Assert.AreEqual(before, await ChecksumAsync(port));
        await ProcessRunner.WaitUntilAsync(() => !ProcessRunner.IsAlive(daemon), TimeSpan.FromSeconds(60),
            () => $"criu lazy-pages (pid {daemon}) to exit once every page was in; its log:\n{ProcessRunner.ReadShared((string)lazy["log"]!)}");
        Assert.AreEqual(before, await ChecksumAsync(port));

        // The daemon's socket and log are no part of the image: it verifies and restores again, plainly on request.
        app.Kill();
        await ProcessRunner.WaitUntilAsync(() => !ProcessRunner.IsAlive(app.Pid), TimeSpan.FromSeconds(10), "the restored app to be killed");
        ToolResult inspect = await ToolRun.RunAsync("inspect", image, "--format", "json");
        Assert.AreEqual("Verified", (string?)JsonNode.Parse(inspect.Stdout)!["manifest"]!["status"], inspect.ToString());
        ToolResult plain = await ToolRun.RunAsync("restore", image, "--lazy-pages", "false", "--format", "json");
        Assert.AreEqual(0, plain.ExitCode, plain.ToString());
        Assert.IsNull(JsonNode.Parse(plain.Stdout)!["lazyPages"], plain.Stdout);
        Assert.AreEqual(before, await ChecksumAsync(port));

        // An image without a manifest (an older dotnet-crac's, or one the process took itself) is measured on disk.
        app.Kill();
        await ProcessRunner.WaitUntilAsync(() => !ProcessRunner.IsAlive(app.Pid), TimeSpan.FromSeconds(10), "the restored app to be killed");
        File.Delete(Path.Combine(image, "crac-manifest.json"));
        ToolResult unlisted = await ToolRun.RunAsync("restore", image, "--format", "json");
        Assert.AreEqual(0, unlisted.ExitCode, unlisted.ToString());
        JsonNode unlistedLazy = JsonNode.Parse(unlisted.Stdout)!["lazyPages"]!;
        Assert.IsTrue((bool)unlistedLazy["lazy"]! && (long)unlistedLazy["bytes"]! >= LiveMegabytes << 20, unlisted.Stdout);
        Assert.AreEqual(before, await ChecksumAsync(port));
    }

    [TestMethod]
    public async Task ALazyRestoreTheKernelWouldRefuseIsRefusedBeforeCriuAndAutoCopiesTheMemoryInstead()
    {
        // Without a memory limit the GC reserves 256 GiB, as any .NET app on a host does (HeapApp sets 4 GiB; this puts it back).
        int port = Loopback.FreePort();
        using SampleProcess app = await SampleProcess.StartHeapAsync(port, LiveMegabytes, new Dictionary<string, string?> { ["DOTNET_GCRegionRange"] = "0x4000000000" });
        string before = await ChecksumAsync(port);
        string image = Path.Combine(app.Directory, "image");
        Assert.AreEqual(0, (await ToolRun.RunAsync("checkpoint", $"{app.Pid}", "--engine", "criu", "--image-dir", image)).ExitCode);
        await app.WaitForExitAsync();

        long allowed = (MemInfo("MemTotal") + MemInfo("SwapTotal")) * 1024;
        bool refused = File.ReadAllText("/proc/sys/vm/overcommit_memory").Trim() == "0" && allowed < 256L << 30;
        ToolResult forced = await ToolRun.RunAsync("restore", image, "--lazy-pages", "true");
        if (refused)
        {
            Assert.AreEqual(13, forced.ExitCode, forced.ToString());
            StringAssert.Matches(forced.Stderr, new System.Text.RegularExpressions.Regex(
                @"the image's largest \(25\d\.\d GiB, the GC's address reservation in a \.NET process\) is more than this kernel lets one mapping have \(vm\.overcommit_memory=0: RAM \+ swap"));
            StringAssert.Contains(forced.Stderr, "DOTNET_GCRegionRange=0x100000000");
            Assert.IsFalse(ProcessRunner.IsAlive(app.Pid), "a refused restore starts nothing");
            Assert.IsFalse(File.Exists(Path.Combine(image, "restore.log")), "refused before CRIU ran");

            ToolResult auto = await ToolRun.RunAsync("restore", image, "--format", "json");
            Assert.AreEqual(0, auto.ExitCode, auto.ToString());
            JsonNode lazy = JsonNode.Parse(auto.Stdout)!["lazyPages"]!;
            Assert.IsFalse((bool)lazy["lazy"]!, auto.Stdout);
            StringAssert.Contains((string?)lazy["notPossible"], "vm.overcommit_memory=1");
        }
        else
        {
            // A host that allows the mapping (overcommit 1, or more RAM than 256 GiB): the prediction says so, and the lazy restore works.
            Assert.AreEqual(0, forced.ExitCode, forced.ToString());
        }

        Assert.AreEqual(before, await ChecksumAsync(port));
    }

    [TestMethod]
    public void ADaemonThatCannotServeTheImageFailsTheStartWithCriusErrorLines()
    {
        // No image to serve: criu lazy-pages exits at once, and the caller hears why, not a hang or a bare exit code.
        string empty = Directory.CreateTempSubdirectory("crac-lazy-empty-").FullName;
        try
        {
            var failure = Assert.ThrowsExactly<Crac.Engines.Criu.CriuException>(() =>
                Crac.Engines.Criu.LazyPages.Start(Paths.Criu, empty, new Crac.Engines.Criu.CriuSettings(), TimeSpan.FromSeconds(10)));
            StringAssert.Contains(failure.Message, "CRIU lazy-pages failed (exit code 1):");
            StringAssert.Contains(failure.Message, "Error (criu/");
            StringAssert.Contains(failure.Message, $"The full log is {Path.Combine(empty, "lazy-pages.log")}.");
        }
        finally
        {
            Directory.Delete(empty, recursive: true);
        }
    }

    private static async Task<string> ChecksumAsync(int port)
    {
        // A connection per request: none is open across the checkpoint.
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.ConnectionClose = true;
        return await http.GetStringAsync($"http://127.0.0.1:{port}/checksum");
    }

    private static long MemInfo(string field) =>
        long.Parse(File.ReadLines("/proc/meminfo").First(line => line.StartsWith(field + ":", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
}
