using System.Text.Json.Serialization;
using Crac.Configuration;
using Crac.Interop;

namespace Crac.Engines.Criu;

/// <summary>
/// How CRIU dumps (and then restores) a process: the criu engine's options resolved once, in the
/// process's preflight, into the closed set of flags CRIU gets. Kept in the image's metadata so
/// the restore passes the matching flags.
/// </summary>
internal sealed record CriuSettings
{
    public bool ShellJob { get; init; }

    /// <summary>The file-locks option: auto takes shared locks on read-only files along, on every lock, off none.</summary>
    public OptionSwitch FileLocksChoice { get; init; } = OptionSwitch.Auto;

    /// <summary>The tcp-close option: auto closes the connections this process accepted, on every connection, off none.</summary>
    public OptionSwitch TcpCloseChoice { get; init; } = OptionSwitch.Auto;

    /// <summary>--file-locks, as settled for the process's descriptors (<see cref="ForDump"/>).</summary>
    public bool FileLocks { get; init; }

    /// <summary>--tcp-close, as settled for the process's descriptors (<see cref="ForDump"/>).</summary>
    public bool TcpClose { get; init; }

    public bool TcpEstablished { get; init; }

    public bool SkipNetworkLock { get; init; }

    /// <summary>--skip-in-flight: connections a listener's backlog holds but the application has not accepted are dropped.</summary>
    public bool SkipInFlight { get; init; }

    /// <summary>--ghost-limit: the largest deleted-but-open file kept in the image.</summary>
    public long GhostLimit { get; init; } = ImageCapabilities.DefaultGhostLimit;

    /// <summary>
    /// CRIU's own default, 2 (errors and warnings): what a failure report reads. Level 4 makes a
    /// restore measurably slower (it is on the path to the first response); set it to debug CRIU.
    /// </summary>
    public int LogLevel { get; init; } = 2;

    /// <summary>What these options let an image hold, for the fd checks.</summary>
    [JsonIgnore]
    public ImageCapabilities Capabilities => new()
    {
        Locks = FileLocksChoice switch
        {
            OptionSwitch.On => FileLockHandling.TakeAll,
            OptionSwitch.Off => FileLockHandling.Refuse,
            OptionSwitch.Auto => FileLockHandling.TakeSharedReadLocks,
        },
        ClosesInbound = !TcpEstablished && TcpCloseChoice != OptionSwitch.Off,
        ClosesOutbound = !TcpEstablished && TcpCloseChoice == OptionSwitch.On,
        PreservesConnections = TcpEstablished,
        GhostLimit = GhostLimit,
    };

    /// <summary>
    /// The flags for a dump of the process as its fd checks found it. An automatic flag is passed
    /// only where the checks let every descriptor it concerns through: --file-locks when the
    /// locks held are all ones to take along, --tcp-close when the process serves TCP (listens, or
    /// holds connections it accepted) and holds no outbound connection, which it would close
    /// under its owner. Without the flag CRIU refuses what it concerns, and the dump fails
    /// rather than doing it silently.
    /// </summary>
    public CriuSettings ForDump(FdSummary summary) => this with
    {
        FileLocks = FileLocksChoice switch
        {
            OptionSwitch.On => true,
            OptionSwitch.Off => false,
            OptionSwitch.Auto => summary.HoldsFileLocks,
        },
        TcpClose = !TcpEstablished && TcpCloseChoice switch
        {
            OptionSwitch.On => true,
            OptionSwitch.Off => false,
            OptionSwitch.Auto => summary.ServesTcp && !summary.HoldsOutboundConnections,
        },
    };

    /// <summary>Resolves the engine options for the process <paramref name="pid"/>.</summary>
    /// <exception cref="ArgumentException">An option's value is not one CRIU takes; the message names it.</exception>
    public static CriuSettings Resolve(EngineOptionValues options, int pid)
    {
        OptionSwitch shellJob = ParseSwitch(options, "shell-job");
        OptionSwitch fileLocks = ParseSwitch(options, "file-locks");
        OptionSwitch tcpClose = ParseSwitch(options, "tcp-close");
        _ = ParseSwitch(options, "compact-heap"); // checked with the others; the coordinator applies it
        string networkLock = options.GetString("network-lock").ToLowerInvariant();

        int ghostLimit = options.GetInt32("ghost-limit");
        if (ghostLimit < 0)
        {
            throw new ArgumentException($"Engine option 'ghost-limit' of the criu engine expects a size in bytes, but got {ghostLimit}.");
        }

        if (networkLock is not ("auto" or "iptables" or "nftables" or "skip"))
        {
            throw new ArgumentException($"Engine option 'network-lock' of the criu engine expects iptables, nftables, skip or auto, but got '{networkLock}'.");
        }

        bool tcp = options.GetBoolean("tcp-established");
        return new CriuSettings
        {
            ShellJob = shellJob == OptionSwitch.On || (shellJob == OptionSwitch.Auto && NeedsShellJob(pid)),
            FileLocksChoice = fileLocks,
            TcpCloseChoice = tcpClose,
            TcpEstablished = tcp,
            SkipNetworkLock = tcp && (networkLock == "skip" || (networkLock == "auto" && !HasIptables())),
            SkipInFlight = options.GetBoolean("skip-in-flight"),
            GhostLimit = ghostLimit,
            LogLevel = Math.Clamp(options.GetInt32("log-level"), 0, 4),
        };
    }

    internal static OptionSwitch ParseSwitch(EngineOptionValues options, string name) => options.GetString(name).ToLowerInvariant() switch
    {
        "auto" => OptionSwitch.Auto,
        "true" or "on" or "yes" or "1" => OptionSwitch.On,
        "false" or "off" or "no" or "0" => OptionSwitch.Off,
        string other => throw new ArgumentException($"Engine option '{name}' of the criu engine expects auto, true or false, but got '{other}'."),
    };

    /// <summary>
    /// CRIU refuses to dump a root task that is not a session leader, or one whose terminal's
    /// other end is outside the dump, unless told it is a shell job.
    /// </summary>
    private static bool NeedsShellJob(int pid)
    {
        for (int fd = 0; fd <= 2; fd++)
        {
            if (Procfs.ReadFdTarget(pid, fd) is { } target
                && (target.StartsWith("/dev/pts/", StringComparison.Ordinal) || target.StartsWith("/dev/tty", StringComparison.Ordinal)))
            {
                return true;
            }
        }

        return ProcStat.Read(pid)?.Session != pid;
    }

    private static bool HasIptables() => Interop.ExecutableSearch.Find("iptables", "/usr/sbin", "/sbin") is not null;
}
