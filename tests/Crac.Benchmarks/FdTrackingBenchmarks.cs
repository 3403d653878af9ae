using System.Globalization;
using System.Text.RegularExpressions;

namespace Crac.Benchmarks;

/// <summary>What recording fd origins (CRAC_COLLECT_FD_STACKTRACES) costs each open.</summary>
internal static class FdTrackingBenchmarks
{
    private const int Runs = 7;
    private const int OpenCloseCount = 20_000;

    public static string Run()
    {
        var agent = new Dictionary<string, string> { ["DOTNET_STARTUP_HOOKS"] = Apps.Agent };
        var tracked = new Dictionary<string, string>(agent)
        {
            ["CRAC_COLLECT_FD_STACKTRACES"] = "true",
            ["LD_PRELOAD"] = Apps.Tracker,
        };
        IReadOnlyList<Samples> samples = Harness.Alternate(
            Runs,
            ("agent, origins off", () => OpenClose(agent)),
            ("agent, origins on (preloaded tracker)", () => OpenClose(tracked)));
        return Harness.Table($"Open and close of one file ({OpenCloseCount:N0} pairs per run), time per pair in microseconds",
            samples.Select(s => s with { Unit = "µs" }).ToArray());
    }

    private static double OpenClose(IDictionary<string, string> environment)
    {
        string output = Path.GetTempFileName();
        using var process = Apps.Start("dotnet", [Apps.SampleApp, "--open-close", OpenCloseCount.ToString(CultureInfo.InvariantCulture)], output, environment);
        process.WaitForExit();
        Match match = Regex.Match(File.ReadAllText(output), @"open-close ns=(\d+)");
        File.Delete(output);
        return match.Success ? double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) / 1000 : throw new InvalidOperationException("no result");
    }
}
