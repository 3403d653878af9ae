using System.Globalization;
using Crac.Configuration;
using Crac.Interop;

namespace Crac.Engines.Criu;

/// <summary>How an image was dumped, kept in its metadata so the restore passes the matching flags.</summary>
internal sealed record CriuSettings
{
    public bool ShellJob { get; init; }

    public bool FileLocks { get; init; }

    public bool TcpEstablished { get; init; }

    public bool TcpClose { get; init; }

    public bool SkipNetworkLock { get; init; }

    public int LogLevel { get; init; } = 4;
}

/// <summary>The criu engine's options and the CRIU command lines built from them (always argument vectors).</summary>
internal static class CriuCommandLine
{
    public const string DumpLog = "dump.log";
    public const string RestoreLog = "restore.log";

    public static readonly IReadOnlyList<EngineOptionDefinition> Options =
    [
        new("criu-path", EngineOptionKind.Path, "", $"the criu binary; default: {CriuBinary.PathVariable}, the private install (.ci/install-criu.sh), then PATH"),
        new("shell-job", EngineOptionKind.Text, "auto", "dump as a shell job (needed when the process is not a session leader or has a terminal): auto, true or false"),
        new("file-locks", EngineOptionKind.Boolean, "false", "dump file locks (a FileStream holds one) instead of failing on them"),
        new("tcp-established", EngineOptionKind.Boolean, "false", "dump established TCP connections; restore them on the same addresses"),
        new("tcp-close", EngineOptionKind.Boolean, "false", "restore established TCP connections closed"),
        new("network-lock", EngineOptionKind.Text, "auto", "how CRIU locks the network during a TCP dump: iptables, nftables, skip, or auto (skip when iptables is absent)"),
        new("log-level", EngineOptionKind.Integer, "4", "CRIU's log level in dump.log and restore.log (0-4)"),
        new("compact-heap", EngineOptionKind.Boolean, "true", "compact the managed heap and trim native memory before the dump, so the image is small"),
    ];

    public static CriuSettings Resolve(EngineOptionValues options, int pid)
    {
        string shellJob = options.GetString("shell-job").ToLowerInvariant();
        string networkLock = options.GetString("network-lock").ToLowerInvariant();
        if (shellJob is not ("auto" or "true" or "false"))
        {
            throw new ArgumentException($"Engine option 'shell-job' of the criu engine expects auto, true or false, but got '{shellJob}'.");
        }

        if (networkLock is not ("auto" or "iptables" or "nftables" or "skip"))
        {
            throw new ArgumentException($"Engine option 'network-lock' of the criu engine expects iptables, nftables, skip or auto, but got '{networkLock}'.");
        }

        bool tcp = options.GetBoolean("tcp-established");
        return new CriuSettings
        {
            ShellJob = shellJob == "true" || (shellJob == "auto" && NeedsShellJob(pid)),
            FileLocks = options.GetBoolean("file-locks"),
            TcpEstablished = tcp,
            TcpClose = options.GetBoolean("tcp-close"),
            SkipNetworkLock = tcp && (networkLock == "skip" || (networkLock == "auto" && !HasIptables())),
            LogLevel = Math.Clamp(options.GetInt32("log-level"), 0, 4),
        };
    }

    public static List<string> Dump(int pid, string directory, CriuSettings settings, bool keepRunning)
    {
        var arguments = new List<string>
        {
            "dump", "-t", pid.ToString(CultureInfo.InvariantCulture), "-D", directory, "-o", DumpLog,
            // Level 3 or more: only then does the log end with "Dumping finished successfully".
            "-v" + Math.Max(settings.LogLevel, 3).ToString(CultureInfo.InvariantCulture),
        };
        AddCommon(arguments, settings);
        if (keepRunning)
        {
            arguments.Add("--leave-running");
        }

        return arguments;
    }

    public static List<string> Restore(string directory, CriuSettings settings, bool detached, string pidFile, IEnumerable<string> inheritFds)
    {
        var arguments = new List<string>
        {
            "restore", "-D", directory, "-o", RestoreLog, "-v" + settings.LogLevel.ToString(CultureInfo.InvariantCulture), "--pidfile", pidFile,
        };
        AddCommon(arguments, settings);
        if (detached)
        {
            arguments.Add("--restore-detached");
        }

        foreach (string inherit in inheritFds)
        {
            arguments.Add("--inherit-fd");
            arguments.Add(inherit);
        }

        return arguments;
    }

    private static void AddCommon(List<string> arguments, CriuSettings settings)
    {
        if (settings.ShellJob)
        {
            arguments.Add("--shell-job");
        }

        if (settings.FileLocks)
        {
            arguments.Add("--file-locks");
        }

        if (settings.TcpEstablished)
        {
            arguments.Add("--tcp-established");
        }

        if (settings.TcpClose)
        {
            arguments.Add("--tcp-close");
        }

        if (settings.SkipNetworkLock)
        {
            arguments.Add("--network-lock");
            arguments.Add("skip");
        }
    }

    /// <summary>
    /// CRIU refuses to dump a root task that is not a session leader, or one whose terminal's
    /// other end is outside the dump, unless told it is a shell job.
    /// </summary>
    private static bool NeedsShellJob(int pid)
    {
        for (int fd = 0; fd <= 2; fd++)
        {
            string? target = new FileInfo($"/proc/{pid}/fd/{fd}").LinkTarget;
            if (target is not null && (target.StartsWith("/dev/pts/", StringComparison.Ordinal) || target.StartsWith("/dev/tty", StringComparison.Ordinal)))
            {
                return true;
            }
        }

        return ProcStat.Read(pid)?.Session != pid;
    }

    private static bool HasIptables() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/sbin:/sbin").Split(':').Append("/usr/sbin").Append("/sbin")
            .Any(directory => File.Exists(Path.Combine(directory, "iptables")));
}
