using System.Collections;
using System.Diagnostics;
using System.Globalization;

namespace Crac.Runtime;

/// <summary>
/// What the process saw of its machine: taken before a checkpoint (it travels in the image, in
/// memory) and again after the restore, so the two can be compared. cgroup v2 and v1 are both
/// read: a host with the hybrid layout keeps memory and cpu under /sys/fs/cgroup/&lt;controller&gt;.
/// </summary>
internal sealed record MachineSnapshot
{
    public required DateTimeOffset WallClock { get; init; }

    /// <summary>Stopwatch's clock (CLOCK_MONOTONIC), which CRIU's time namespace carries across a restore.</summary>
    public required long MonotonicTimestamp { get; init; }

    public required string HostName { get; init; }

    public required string? TzVariable { get; init; }

    public required string LocalTimeZone { get; init; }

    /// <summary>LC_ALL, LC_MESSAGES and LANG, as .NET's default culture reads them (first set wins).</summary>
    public required string? LocaleVariable { get; init; }

    /// <summary>The cgroup memory limit in bytes, or null when unlimited or unknown.</summary>
    public required long? MemoryLimit { get; init; }

    /// <summary>/proc/meminfo's MemTotal in bytes, the GC's budget when there is no limit.</summary>
    public required long? PhysicalMemory { get; init; }

    /// <summary>The CPUs the process may run on (its affinity), as the runtime counted them at start-up.</summary>
    public required int AllowedCpus { get; init; }

    /// <summary>The cgroup CPU quota in CPUs (quota / period), or null when unlimited or unknown.</summary>
    public required double? CpuQuota { get; init; }

    public required IReadOnlyDictionary<string, string> Environment { get; init; }

    /// <summary>Whether the application configured the GC's hard limit itself (GCHeapHardLimit or its percent).</summary>
    public required bool HardLimitConfigured { get; init; }

    public static MachineSnapshot Capture() =>
        new()
        {
            WallClock = DateTimeOffset.UtcNow,
            MonotonicTimestamp = Stopwatch.GetTimestamp(),
            HostName = System.Environment.MachineName,
            TzVariable = System.Environment.GetEnvironmentVariable("TZ"),
            LocalTimeZone = TimeZoneInfo.Local.Id,
            LocaleVariable = ReadLocaleVariable(),
            MemoryLimit = Cgroups.MemoryLimit(),
            PhysicalMemory = Cgroups.PhysicalMemory(),
            AllowedCpus = Cgroups.AllowedCpus(),
            CpuQuota = Cgroups.CpuQuota(),
            Environment = CaptureEnvironment(),
            HardLimitConfigured = RestoredMachine.ApplicationSetHardLimit(),
        };

    public static Dictionary<string, string> CaptureEnvironment()
    {
        var environment = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry variable in System.Environment.GetEnvironmentVariables())
        {
            environment[(string)variable.Key] = (string?)variable.Value ?? string.Empty;
        }

        return environment;
    }

    internal static string? ReadLocaleVariable()
    {
        foreach (string name in new[] { "LC_ALL", "LC_MESSAGES", "LANG" })
        {
            if (System.Environment.GetEnvironmentVariable(name) is { Length: > 0 } value)
            {
                return value;
            }
        }

        return null;
    }

    public static string Bytes(long? bytes) => bytes switch
    {
        null => "no limit",
        >= 1L << 30 => string.Create(CultureInfo.InvariantCulture, $"{bytes.Value / (double)(1L << 30):0.##} GiB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes.Value / (double)(1L << 20):0.#} MiB"),
    };

    public static string Cpus(double? quota) =>
        quota is { } value ? string.Create(CultureInfo.InvariantCulture, $"{value:0.##} CPUs") : "no quota";
}

/// <summary>This process's cgroup limits, on cgroup v2 (unified) or v1 (a hierarchy per controller).</summary>
internal static class Cgroups
{
    private const string Root = "/sys/fs/cgroup";

    /// <summary>The memory limit in bytes, or null for none (v2 "max", v1's page-rounded LONG_MAX).</summary>
    public static long? MemoryLimit()
    {
        if (V2Directory() is { } unified && Read(Path.Join(unified, "memory.max")) is { } max)
        {
            return max == "max" ? null : ParseLong(max);
        }

        if (V1Directory("memory") is { } v1 && ParseLong(Read(Path.Join(v1, "memory.limit_in_bytes"))) is { } limit)
        {
            // v1 writes "no limit" as LONG_MAX rounded down to a page.
            return limit >= long.MaxValue / 2 ? null : limit;
        }

        return null;
    }

    /// <summary>The CPU quota in CPUs, or null for none.</summary>
    public static double? CpuQuota()
    {
        if (V2Directory() is { } unified && Read(Path.Join(unified, "cpu.max"))?.Split(' ') is [var quota, var period])
        {
            return quota == "max" ? null : ParseLong(quota) / (double?)ParseLong(period);
        }

        if (V1Directory("cpu") is { } v1
            && ParseLong(Read(Path.Join(v1, "cpu.cfs_quota_us"))) is { } cfsQuota and > 0
            && ParseLong(Read(Path.Join(v1, "cpu.cfs_period_us"))) is { } cfsPeriod and > 0)
        {
            return cfsQuota / (double)cfsPeriod;
        }

        return null;
    }

    public static long? PhysicalMemory() => Interop.Procfs.ReadMemInfoBytes("MemTotal");

    /// <summary>How many CPUs the process may run on now (Cpus_allowed_list), the count the runtime takes at start-up.</summary>
    public static int AllowedCpus()
    {
        string? list = Read("/proc/self/status")?.Split('\n').FirstOrDefault(l => l.StartsWith("Cpus_allowed_list:", StringComparison.Ordinal))?["Cpus_allowed_list:".Length..].Trim();
        return list is null ? System.Environment.ProcessorCount : CountCpuList(list);
    }

    /// <summary>Counts a kernel CPU list such as "0-3,8,10-11".</summary>
    internal static int CountCpuList(string list)
    {
        int count = 0;
        foreach (string range in list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            string[] ends = range.Split('-');
            count += ends.Length == 2 ? int.Parse(ends[1], CultureInfo.InvariantCulture) - int.Parse(ends[0], CultureInfo.InvariantCulture) + 1 : 1;
        }

        return count;
    }

    /// <summary>The process's v2 directory when the unified hierarchy holds controllers.</summary>
    private static string? V2Directory()
    {
        if (!File.Exists(Path.Join(Root, "cgroup.controllers")))
        {
            return null;
        }

        string? line = Read("/proc/self/cgroup")?.Split('\n').FirstOrDefault(l => l.StartsWith("0::", StringComparison.Ordinal));
        return line is null ? null : Path.Join(Root, line[3..]);
    }

    /// <summary>The process's v1 directory for a controller ("4:memory:/path").</summary>
    private static string? V1Directory(string controller)
    {
        foreach (string line in Read("/proc/self/cgroup")?.Split('\n') ?? [])
        {
            string[] parts = line.Split(':', 3);
            if (parts.Length == 3 && parts[1].Split(',').Contains(controller))
            {
                string mount = Directory.Exists(Path.Join(Root, parts[1])) ? Path.Join(Root, parts[1]) : Path.Join(Root, controller);
                return Path.Join(mount, parts[2]);
            }
        }

        return null;
    }

    private static long? ParseLong(string? text) =>
        long.TryParse(text?.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out long value) ? value : null;

    private static string? Read(string path)
    {
        try
        {
            return File.Exists(path) ? File.ReadAllText(path).Trim() : null;
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
