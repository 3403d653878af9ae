using System.Text.Json.Serialization;
using Crac.Diagnostics;

namespace Crac.Configuration;

/// <summary>
/// Every time limit of one checkpoint, derived from its resource timeout by one rule. The agent
/// applies them and sends them with its acceptance; the tool derives its own waits from that
/// answer, so the process and the tool never disagree on how long anything may take.
/// </summary>
internal sealed record CheckpointLimits
{
    /// <summary>A resource that overran the timeout gets this long to honour its cancelled token.</summary>
    public static readonly TimeSpan DefaultGracePeriod = TimeSpan.FromSeconds(1);

    /// <summary>How long CRIU may take to write an image (a few hundred MB take seconds).</summary>
    public static readonly TimeSpan DefaultDumpTimeout = TimeSpan.FromMinutes(5);

    // What a pass costs beyond its resources: the heap compaction, the fd checks, the channel's polling.
    private static readonly TimeSpan Overhead = TimeSpan.FromSeconds(15);

    /// <summary>
    /// How long the resources of one notification pass (before-checkpoint, then after-restore,
    /// each with a fresh deadline) have; <see cref="Timeout.InfiniteTimeSpan"/> for no limit.
    /// </summary>
    [JsonConverter(typeof(DurationJsonConverter))]
    public required TimeSpan ResourceTimeout { get; init; }

    [JsonConverter(typeof(DurationJsonConverter))]
    public required TimeSpan GracePeriod { get; init; }

    /// <summary>How long CRIU's dump may run.</summary>
    [JsonConverter(typeof(DurationJsonConverter))]
    public required TimeSpan DumpTimeout { get; init; }

    [JsonIgnore]
    public bool IsInfinite => ResourceTimeout == Timeout.InfiniteTimeSpan;

    /// <summary>How long a process ready to be imaged waits for the tool's dump before it gives up and rolls back.</summary>
    [JsonIgnore]
    public TimeSpan DumpWait => DumpTimeout + Overhead;

    /// <summary>The most one notification pass can take, as seen from outside; infinite with an infinite timeout.</summary>
    [JsonIgnore]
    public TimeSpan PassDeadline => IsInfinite ? Timeout.InfiniteTimeSpan : ResourceTimeout + GracePeriod + Overhead;

    /// <summary>The most a whole checkpoint can take: before-checkpoint, the dump, after-restore.</summary>
    [JsonIgnore]
    public TimeSpan CheckpointDeadline => IsInfinite ? Timeout.InfiniteTimeSpan : PassDeadline + DumpWait + PassDeadline;

    public static CheckpointLimits For(TimeSpan resourceTimeout) => new()
    {
        ResourceTimeout = resourceTimeout,
        GracePeriod = DefaultGracePeriod,
        DumpTimeout = DefaultDumpTimeout,
    };
}
