using System.Diagnostics;
using System.Globalization;
using System.Runtime;
using Crac.Coordination;

namespace Crac.Runtime;

/// <summary>
/// One image is restored at another time, on other hosts: this compares what the process sees
/// after the restore with what it saw before the checkpoint, fixes what the runtime lets it fix
/// (the time-zone and culture caches, the GC's memory limit), and reports the rest with its
/// consequences (the clocks, the host name, the CPUs, the environment).
/// </summary>
internal sealed class RestoredMachine : IResource
{
    // Stopwatch advancing by less than this while the wall clock advanced by more is CRIU's time namespace at work.
    private static readonly TimeSpan ClockSlack = TimeSpan.FromSeconds(1);

    private MachineSnapshot? _beforeCheckpoint;

    public static RestoredMachine Instance { get; } = new();

    /// <summary>What the process saw before its last checkpoint, or null.</summary>
    public MachineSnapshot? BeforeCheckpoint => Volatile.Read(ref _beforeCheckpoint);

    public Task BeforeCheckpointAsync(Context context, CancellationToken cancellationToken)
    {
        Volatile.Write(ref _beforeCheckpoint, MachineSnapshot.Capture());
        return Task.CompletedTask;
    }

    public Task AfterRestoreAsync(Context context, CancellationToken cancellationToken)
    {
        if (CheckpointScope.Current is not { Restored: true } || BeforeCheckpoint is not { } before)
        {
            return Task.CompletedTask;
        }

        foreach (FidelityFinding finding in Compare(before))
        {
            RestoreFidelity.Record(finding);
        }

        return Task.CompletedTask;
    }

    /// <summary>
    /// The after-restore's comparison against a snapshot taken now, with no fix applied and nothing
    /// recorded: its first run (reading the time zone, cgroups and environment, formatting the
    /// findings) is mostly first calls, which a restored process then does not pay (see AgentHost.WarmUp).
    /// </summary>
    public static void Rehearse()
    {
        foreach (FidelityFinding finding in Compare(MachineSnapshot.Capture(), rehearsal: true))
        {
            _ = RestoreFidelity.Describe(finding);
        }
    }

    /// <summary>Fixes what it can (unless rehearsing) and returns a finding for each thing compared.</summary>
    internal static IEnumerable<FidelityFinding> Compare(MachineSnapshot before, bool rehearsal = false)
    {
        yield return Clocks(before);
        yield return TimeZone(before, rehearsal);
        yield return Culture(before, rehearsal);
        yield return HostName(before);
        yield return Memory(before, rehearsal);
        yield return Cpus(before);
        foreach (FidelityFinding finding in EnvironmentVariables(before))
        {
            yield return finding;
        }
    }

    private static FidelityFinding Clocks(MachineSnapshot before)
    {
        TimeSpan wall = DateTimeOffset.UtcNow - before.WallClock;
        TimeSpan monotonic = Stopwatch.GetElapsedTime(before.MonotonicTimestamp);
        if (monotonic < TimeSpan.Zero)
        {
            // A restore without a time namespace onto a host that booted more recently.
            return new FidelityFinding("clocks", FidelityState.Detected,
                $"the monotonic clock (Stopwatch, Environment.TickCount64, every timer's clock) went back {Duration(-monotonic)} across the restore: the restore did not get a time namespace (CRIU needs Linux 5.6 with time namespaces allowed), so timers, Task.Delay and timeouts fire up to {Duration(-monotonic)} late. Restore where time namespaces are available");
        }

        if (wall - monotonic > ClockSlack)
        {
            return new FidelityFinding("clocks", FidelityState.Unchanged,
                $"the wall clock (DateTime) moved on by the {Duration(wall - monotonic)} the process was down; Stopwatch, Environment.TickCount64 and every timer's clock continued from the checkpoint (CRIU's time namespace): timers and timeouts did not count the time down, so none fired at once or in a burst. Durations measured across the restore with Stopwatch exclude the time down; with DateTime they include it");
        }

        return wall > ClockSlack + ClockSlack
            ? new FidelityFinding("clocks", FidelityState.Detected,
                $"the monotonic clock moved {Duration(monotonic)} with the wall clock's {Duration(wall)} across the restore (no time namespace): timers due while the process was down fired once at the restore (.NET timers do not catch up, so there was no burst), and timeouts measured across it count the time down")
            : new FidelityFinding("clocks", FidelityState.Unchanged,
                $"the wall clock and Stopwatch both moved {Duration(wall)} since the checkpoint's notifications began");
    }

    private static FidelityFinding TimeZone(MachineSnapshot before, bool rehearsal)
    {
        // TimeZoneInfo.Local is computed once (from TZ, else /etc/localtime); the restorer's may differ.
        // A rehearsal leaves the cache as it is and reads the zone's tzfile by name, which parses it
        // as Local's re-read will (a zone with no tzdata name, "Local", is not looked up; no throw).
        if (rehearsal)
        {
            if (TimeZoneInfo.Local.Id is { } id && id != "Local")
            {
                _ = TimeZoneInfo.TryFindSystemTimeZoneById(id, out _);
            }
        }
        else
        {
            TimeZoneInfo.ClearCachedData();
        }

        string now = TimeZoneInfo.Local.Id;
        return now == before.LocalTimeZone
            ? new FidelityFinding("time zone", FidelityState.Unchanged, $"{now}; TimeZoneInfo's cache was cleared, so a change of /etc/localtime or TZ is seen")
            : new FidelityFinding("time zone", FidelityState.Fixed,
                $"{before.LocalTimeZone} at the checkpoint, {now} now{(Environment.GetEnvironmentVariable("TZ") is { } tz ? $" (TZ={tz})" : string.Empty)}: TimeZoneInfo's cache was cleared, so DateTime.Now and TimeZoneInfo.Local follow this host");
    }

    private static FidelityFinding Culture(MachineSnapshot before, bool rehearsal)
    {
        if (AppContext.TryGetSwitch("System.Globalization.Invariant", out bool invariant) && invariant)
        {
            return new FidelityFinding("culture", FidelityState.Unchanged, "invariant globalization mode: the culture does not depend on the host");
        }

        if (!rehearsal)
        {
            CultureInfo.CurrentCulture.ClearCachedData();
        }

        string? locale = MachineSnapshot.ReadLocaleVariable();
        if (locale == before.LocaleVariable || rehearsal)
        {
            return new FidelityFinding("culture", FidelityState.Unchanged, $"{(CultureInfo.CurrentCulture.Name.Length == 0 ? "the invariant culture" : CultureInfo.CurrentCulture.Name)} (locale {locale ?? "unset"}); the culture caches were cleared");
        }

        if (CultureInfo.DefaultThreadCurrentCulture is not null)
        {
            return new FidelityFinding("culture", FidelityState.Detected,
                $"the locale changed from {before.LocaleVariable ?? "unset"} to {locale ?? "unset"}, but the application set CultureInfo.DefaultThreadCurrentCulture ({CultureInfo.DefaultThreadCurrentCulture.Name}), which is left as it is");
        }

        // ICU reads the locale once per process, so the default culture is set from the new variable.
        string? name = CultureName(locale);
        try
        {
            CultureInfo culture = name is null ? CultureInfo.InvariantCulture : CultureInfo.GetCultureInfo(name);
            CultureInfo.DefaultThreadCurrentCulture = culture;
            CultureInfo.DefaultThreadCurrentUICulture = culture;
            return new FidelityFinding("culture", FidelityState.Fixed,
                $"the locale changed from {before.LocaleVariable ?? "unset"} to {locale ?? "unset"}: CultureInfo.DefaultThreadCurrentCulture is now {(name ?? "the invariant culture")} (threads that set their own culture keep it)");
        }
        catch (CultureNotFoundException)
        {
            return new FidelityFinding("culture", FidelityState.Detected,
                $"the locale changed from {before.LocaleVariable ?? "unset"} to {locale}, which names no culture this runtime knows: the culture stays {CultureInfo.CurrentCulture.Name}");
        }
    }

    /// <summary>The culture a POSIX locale names: "de_DE.UTF-8@euro" is de-DE; C and POSIX are the invariant culture (null).</summary>
    internal static string? CultureName(string? locale)
    {
        if (string.IsNullOrEmpty(locale))
        {
            return null;
        }

        string name = locale.Split('.', '@')[0];
        return name is "C" or "POSIX" or "" ? null : name.Replace('_', '-');
    }

    private static FidelityFinding HostName(MachineSnapshot before)
    {
        string now = Environment.MachineName;
        return now == before.HostName
            ? new FidelityFinding("host name", FidelityState.Unchanged,
                $"{now}; .NET reads it and resolves names afresh on each call (no DNS cache of its own; glibc rereads a changed /etc/resolv.conf)")
            : new FidelityFinding("host name", FidelityState.Detected,
                $"{before.HostName} at the checkpoint, {now} now: Environment.MachineName and Dns.GetHostName say {now}, but anything that kept the name from start-up (log enrichers, telemetry resource attributes, cached URLs) still says {before.HostName}; read it after the restore (Core.Restored)");
    }

    private static FidelityFinding Memory(MachineSnapshot before, bool rehearsal)
    {
        long? limit = Cgroups.MemoryLimit();
        long? physical = Cgroups.PhysicalMemory();
        long budget = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        if ((limit == before.MemoryLimit && physical == before.PhysicalMemory) || rehearsal)
        {
            return new FidelityFinding("memory limit", FidelityState.Unchanged,
                $"{MachineSnapshot.Bytes(limit)} (cgroup), {MachineSnapshot.Bytes(physical)} of RAM, as at the checkpoint: the GC budgets {MachineSnapshot.Bytes(budget)}");
        }

        string change = limit != before.MemoryLimit
            ? $"the cgroup memory limit was {MachineSnapshot.Bytes(before.MemoryLimit)} at the checkpoint and is {MachineSnapshot.Bytes(limit)} here"
            : $"this host has {MachineSnapshot.Bytes(physical)} of RAM, the checkpoint's had {MachineSnapshot.Bytes(before.PhysicalMemory)}";
        try
        {
            GC.RefreshMemoryLimit();
            long refreshed = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
            if (limit is not { } bytes || (refreshed <= bytes && refreshed >= bytes / 2) || before.HardLimitConfigured)
            {
                return new FidelityFinding("memory limit", FidelityState.Fixed,
                    $"{change}: GC.RefreshMemoryLimit() ran, and the GC budgets {MachineSnapshot.Bytes(refreshed)} (it budgeted {MachineSnapshot.Bytes(budget)})");
            }

            // The runtime reads the limit of the cgroup it found at start-up; a restore into another
            // cgroup (not a container's namespaced "/") is not seen. Give the GC the limit as a hard
            // limit instead, at the share the runtime takes of a container's limit by default.
            ulong hardLimit = (ulong)(bytes / 100 * ContainerHeapPercent);
            AppContext.SetData("GCHeapHardLimit", hardLimit);
            GC.RefreshMemoryLimit();
            _hardLimitSetHere = true;
            long limited = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
            return new FidelityFinding("memory limit", FidelityState.Fixed,
                $"{change}; the runtime still read its start-up cgroup's limit ({MachineSnapshot.Bytes(refreshed)}), so the GC's hard limit was set to {ContainerHeapPercent}% of this one (AppContext GCHeapHardLimit, then GC.RefreshMemoryLimit()): the GC budgets {MachineSnapshot.Bytes(limited)} (it budgeted {MachineSnapshot.Bytes(budget)})");
        }
        catch (InvalidOperationException exception)
        {
            return new FidelityFinding("memory limit", FidelityState.Detected,
                $"{change}, but GC.RefreshMemoryLimit refused it ({exception.Message}): the GC still budgets {MachineSnapshot.Bytes(budget)}; the heap may be larger than the new limit allows, expect the OOM killer. Restore under a limit of at least the heap's size");
        }
    }

    // The runtime's default GCHeapHardLimitPercent for a process with a memory limit.
    private const int ContainerHeapPercent = 75;

    private static bool _hardLimitSetHere;

    /// <summary>Whether a GC hard limit is configured by the application (not by this class): then the runtime's refresh alone is right.</summary>
    internal static bool ApplicationSetHardLimit() =>
        !_hardLimitSetHere
        && GC.GetConfigurationVariables() is var variables
        && ((variables.GetValueOrDefault("GCHeapHardLimit") is ulong limit && limit != 0)
            || (variables.GetValueOrDefault("GCHeapHardLimitPercent") is uint percent && percent != 0));

    private static FidelityFinding Cpus(MachineSnapshot before)
    {
        int allowed = Cgroups.AllowedCpus();
        double? quota = Cgroups.CpuQuota();
        int effective = quota is { } q ? Math.Max(1, Math.Min(allowed, (int)Math.Ceiling(q))) : allowed;
        int cached = Environment.ProcessorCount;
        string shape = $"{allowed} CPUs allowed, {MachineSnapshot.Cpus(quota)}";
        if (allowed == before.AllowedCpus && quota == before.CpuQuota && effective == cached)
        {
            return new FidelityFinding("CPUs", FidelityState.Unchanged, $"{shape}, as at the checkpoint; Environment.ProcessorCount is {cached}");
        }

        string gc = GCSettings.IsServerGC
            ? $"server GC keeps the {GC.GetConfigurationVariables().GetValueOrDefault("HeapCount")} heaps (and GC threads) it made for {cached} CPUs"
            : "workstation GC is not sized by CPU count";
        string advice = effective < cached
            ? $"expect more runnable threads than CPUs and longer GC pauses; start the process with DOTNET_PROCESSOR_COUNT={effective} (and DOTNET_GCHeapCount) before the checkpoint, or checkpoint on the shape you restore on"
            : $"the extra CPUs go unused by the thread pool's defaults until a new process starts; checkpoint on the shape you restore on, or set DOTNET_PROCESSOR_COUNT before the checkpoint";
        return new FidelityFinding("CPUs", FidelityState.Detected,
            $"{before.AllowedCpus} CPUs allowed, {MachineSnapshot.Cpus(before.CpuQuota)} at the checkpoint; {shape} here. Environment.ProcessorCount stays {cached} (read at start-up): the thread pool's minimum threads, Parallel's default degree and ConcurrentDictionary's locks were sized for {cached}, and {gc}; {advice}");
    }

    private static IEnumerable<FidelityFinding> EnvironmentVariables(MachineSnapshot before)
    {
        // Only the environment: the rest of a snapshot (time zone, cgroups) was compared above.
        Dictionary<string, string> now = MachineSnapshot.CaptureEnvironment();
        string[] changed = [.. now.Where(v => !before.Environment.TryGetValue(v.Key, out string? old) || old != v.Value).Select(v => v.Key).Order(StringComparer.Ordinal)];
        string[] onlyBefore = [.. before.Environment.Keys.Where(k => !now.ContainsKey(k)).Order(StringComparer.Ordinal)];
        yield return changed.Length == 0
            ? new FidelityFinding("environment", FidelityState.Unchanged, "the restorer's environment sets every variable as the checkpointed process had it")
            : new FidelityFinding("environment", FidelityState.Fixed,
                $"{changed.Length} variables differ from the checkpoint's and are now the restorer's ({Names(changed)}); Microsoft.Extensions.Configuration reloads them where Crac.Hosting runs (values not shown)");
        if (onlyBefore.Length > 0)
        {
            yield return new FidelityFinding("environment (removed)", FidelityState.Detected,
                $"{onlyBefore.Length} variables were removed by the restorer ({Names(onlyBefore)})");
        }
    }

    private static string Names(string[] names) =>
        names.Length <= 8 ? string.Join(", ", names) : $"{string.Join(", ", names.Take(8))} and {names.Length - 8} more";

    private static string Duration(TimeSpan span) => span.TotalSeconds >= 1
        ? string.Create(CultureInfo.InvariantCulture, $"{span.TotalSeconds:0.#} s")
        : string.Create(CultureInfo.InvariantCulture, $"{span.TotalMilliseconds:0} ms");

    public override string ToString() => "the runtime's view of the machine";
}
