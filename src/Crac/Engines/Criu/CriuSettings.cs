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

    public bool FileLocks { get; init; }

    public bool TcpEstablished { get; init; }

    public bool TcpClose { get; init; }

    public bool SkipNetworkLock { get; init; }

    public int LogLevel { get; init; } = 4;

    /// <summary>Resolves the engine options for the process <paramref name="pid"/>.</summary>
    /// <exception cref="ArgumentException">An option's value is not one CRIU takes; the message names it.</exception>
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

    private static bool HasIptables() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/sbin:/sbin").Split(':').Append("/usr/sbin").Append("/sbin")
            .Any(directory => File.Exists(Path.Combine(directory, "iptables")));
}
