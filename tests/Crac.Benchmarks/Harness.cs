using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Crac.Benchmarks;

/// <summary>Samples of one measurement, in milliseconds (or another unit), with their median.</summary>
internal sealed record Samples(string Name, IReadOnlyList<double> Values, string Unit = "ms")
{
    public double Median => Percentile(0.5);

    public double P90 => Percentile(0.9);

    public double Min => Values.Min();

    public double Max => Values.Max();

    private double Percentile(double p)
    {
        double[] sorted = [.. Values.Order()];
        double rank = p * (sorted.Length - 1);
        int low = (int)Math.Floor(rank);
        int high = (int)Math.Ceiling(rank);
        return sorted[low] + ((sorted[high] - sorted[low]) * (rank - low));
    }
}

/// <summary>One of issue 11's targets: ours against its baseline, measured in the same run.</summary>
/// <param name="Row">The issue's row number.</param>
/// <param name="Met">Null when the row could not be measured here (<paramref name="Note"/> says why).</param>
internal sealed record TargetResult(int Row, string Path, string Baseline, string Ours, string Ratio, string Target, bool? Met, string Note = "");

/// <summary>
/// A small harness for what BenchmarkDotNet does not measure well here: whole processes, CRIU and
/// the diagnostics channel. Compared candidates run alternately in one run, so drift on the
/// machine hits both, and results are given as a ratio to the baseline.
/// </summary>
internal static class Harness
{
    private static readonly List<TargetResult> TargetResults = [];

    /// <summary>Runs the candidates in turn, <paramref name="runs"/> times each, after a warm-up round.</summary>
    public static IReadOnlyList<Samples> Alternate(int runs, params (string Name, Func<double> Measure)[] candidates)
    {
        foreach ((string _, Func<double> measure) in candidates)
        {
            measure();
        }

        var values = candidates.Select(_ => new List<double>()).ToArray();
        for (int run = 0; run < runs; run++)
        {
            for (int i = 0; i < candidates.Length; i++)
            {
                values[i].Add(candidates[i].Measure());
            }
        }

        return candidates.Select((candidate, i) => new Samples(candidate.Name, values[i])).ToArray();
    }

    public static double Time(Action action)
    {
        long start = Stopwatch.GetTimestamp();
        action();
        return Stopwatch.GetElapsedTime(start).TotalMilliseconds;
    }

    /// <summary>Records a target on the ratio of medians, ours over the baseline: met when it is at most <paramref name="maxRatio"/>.</summary>
    public static void Target(int row, string path, Samples baseline, Samples ours, double maxRatio)
    {
        TargetResults.Add(new TargetResult(row, path, Describe(baseline), Describe(ours), Ratio(ours, baseline),
            "≤ " + maxRatio.ToString("0.0#", CultureInfo.InvariantCulture), ours.Median / baseline.Median <= maxRatio));
    }

    /// <summary>Records a target on an absolute value (the median of <paramref name="ours"/>).</summary>
    public static void TargetAbsolute(int row, string path, Samples ours, double max, string note = "") =>
        TargetResults.Add(new TargetResult(row, path, "—", Describe(ours), "—", "≤ " + Format(max, ours.Unit), ours.Median <= max, note));

    /// <summary>Records a row that has no target ratio (informational), or one that could not be measured here.</summary>
    public static void Record(int row, string path, string baseline, string ours, string ratio, string note) =>
        TargetResults.Add(new TargetResult(row, path, baseline, ours, ratio, "—", null, note));

    /// <summary>The summary: every target recorded so far, in the issue's order.</summary>
    public static string TargetTable()
    {
        var text = new StringBuilder("\n## Issue 11's targets (medians; ratio = ours / baseline)\n\n| # | path | baseline | ours | ratio | target | met? |\n|---:|---|---|---|---:|---:|---|\n");
        foreach (TargetResult result in TargetResults.OrderBy(r => r.Row))
        {
            string met = result.Met switch { true => "met", false => "**not met**", null => "—" };
            string note = result.Note.Length > 0 ? $" ({result.Note})" : "";
            text.Append(CultureInfo.InvariantCulture, $"| {result.Row} | {result.Path} | {result.Baseline} | {result.Ours} | {result.Ratio} | {result.Target} | {met}{note} |\n");
        }

        return text.ToString();
    }

    /// <summary>A Markdown table: each candidate's median, spread (min–max) and its ratio to the first (the baseline).</summary>
    public static string Table(string title, IReadOnlyList<Samples> samples)
    {
        var text = new StringBuilder($"\n### {title}\n\n| | median | p90 | min–max | runs | ratio to {samples[0].Name} |\n|---|---:|---:|---:|---:|---:|\n");
        foreach (Samples sample in samples)
        {
            text.Append(CultureInfo.InvariantCulture,
                $"| {sample.Name} | {Format(sample.Median, sample.Unit)} | {Format(sample.P90, sample.Unit)} | {Format(sample.Min, sample.Unit)}–{Format(sample.Max, sample.Unit)} | {sample.Values.Count} | {sample.Median / samples[0].Median:0.00} |\n");
        }

        return text.ToString();
    }

    public static string Format(double value, string unit) => unit switch
    {
        "ms" => value.ToString(value < 10 ? "0.00" : "0.0", CultureInfo.InvariantCulture) + " ms",
        "MB" => value.ToString("0.0", CultureInfo.InvariantCulture) + " MB",
        _ => value.ToString("0.##", CultureInfo.InvariantCulture) + " " + unit,
    };

    public static string Machine()
    {
        string cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':')[1].Trim() ?? "?";
        string memory = File.ReadLines("/proc/meminfo").First().Split(':')[1].Trim();
        return $"{DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores ({cpu}), {memory} RAM, Linux {File.ReadAllText("/proc/sys/kernel/osrelease").Trim()}, " +
               $"{System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription}, CRIU {Criu.Version()}, {ProbeCache()}";
    }

    /// <summary>Whether every CRIU call here, raw or ours, probes the kernel afresh (about 30 ms each): CRIU keeps its probes only on a tmpfs /run.</summary>
    private static string ProbeCache()
    {
        string directory = Crac.Engines.Criu.CriuBinary.KernelProbeCacheDirectory;
        string? type = Crac.Interop.Procfs.FileSystemTypeOf(directory);
        return type == "tmpfs" ? $"CRIU's kernel probes cached ({directory} is a tmpfs)" : $"CRIU's kernel probes not cached ({directory} is {type ?? "missing"}): every CRIU call probes again";
    }

    public static string Describe(Samples samples) => $"{samples.Name}: {Format(samples.Median, samples.Unit)}";

    /// <summary>The ratio of medians, ours over the baseline.</summary>
    public static string Ratio(Samples ours, Samples baseline) => (ours.Median / baseline.Median).ToString("0.00", CultureInfo.InvariantCulture);
}
