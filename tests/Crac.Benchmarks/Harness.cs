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

    private double Percentile(double p)
    {
        double[] sorted = [.. Values.Order()];
        double rank = p * (sorted.Length - 1);
        int low = (int)Math.Floor(rank);
        int high = (int)Math.Ceiling(rank);
        return sorted[low] + ((sorted[high] - sorted[low]) * (rank - low));
    }
}

/// <summary>
/// A small harness for what BenchmarkDotNet does not measure well here: whole processes, CRIU and
/// the diagnostics channel. Compared candidates run alternately in one run, so drift on the
/// machine hits both, and results are given as a ratio to the baseline.
/// </summary>
internal static class Harness
{
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

    /// <summary>A Markdown table: each candidate's median, p90 and its ratio to the first (the baseline).</summary>
    public static string Table(string title, IReadOnlyList<Samples> samples)
    {
        var text = new StringBuilder($"\n### {title}\n\n| | median | p90 | min | runs | ratio to {samples[0].Name} |\n|---|---:|---:|---:|---:|---:|\n");
        foreach (Samples sample in samples)
        {
            text.Append(CultureInfo.InvariantCulture,
                $"| {sample.Name} | {Format(sample.Median, sample.Unit)} | {Format(sample.P90, sample.Unit)} | {Format(sample.Min, sample.Unit)} | {sample.Values.Count} | {sample.Median / samples[0].Median:0.00} |\n");
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
        return $"{DateTime.UtcNow:yyyy-MM-dd}, {Environment.ProcessorCount} cores ({cpu}), {memory} RAM, Linux {Environment.OSVersion.Version}, " +
               $"{System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription}";
    }
}
