using System.Globalization;
using Crac.Configuration;

namespace Crac.Engines.Criu;

/// <summary>
/// The criu engine's options, and CRIU's argument vectors built from resolved settings: the one
/// place a CRIU command line is made, for the tool's dump, the self-dump and the restore.
/// </summary>
internal static class CriuCommandLine
{
    public const string DumpLog = "dump.log";
    public const string RestoreLog = "restore.log";
    public const string LazyPagesLog = "lazy-pages.log";

    /// <summary>Where <c>criu lazy-pages</c> listens and <c>criu restore --lazy-pages</c> connects: CRIU's fixed name, in the work directory (the image's).</summary>
    public const string LazyPagesSocket = "lazy-pages.socket";

    public static readonly IReadOnlyList<EngineOptionDefinition> Options =
    [
        new("criu-path", EngineOptionKind.Path, "", $"the criu binary; default: {CriuBinary.PathVariable}, the private install (.ci/install-criu.sh), then PATH"),
        new("shell-job", EngineOptionKind.Text, "auto", "dump as a shell job (needed when the process is not a session leader or has a terminal): auto, true or false"),
        new("file-locks", EngineOptionKind.Text, "auto", "file locks (a FileStream holds one): auto takes shared locks on read-only files along and refuses the rest, true takes every lock along, false refuses any"),
        new("tcp-established", EngineOptionKind.Boolean, "false", "dump connected TCP sockets as they are and restore them on the same addresses (outbound ones included)"),
        new("tcp-close", EngineOptionKind.Text, "auto", "auto: shut down the connections this process accepted before the dump and restore them closed (--tcp-close), refusing outbound ones; true: outbound ones too; false: none"),
        new("skip-in-flight", EngineOptionKind.Boolean, "true", "drop connections still waiting in a listener's backlog (never accepted by the application) instead of failing"),
        new("ghost-limit", EngineOptionKind.Integer, "1048576", "the largest deleted-but-open file (bytes) kept in the image"),
        new("network-lock", EngineOptionKind.Text, "auto", "how CRIU locks the network during a TCP dump: iptables, nftables, skip, or auto (skip when iptables is absent)"),
        new("log-level", EngineOptionKind.Integer, "2", "CRIU's log level in dump.log and restore.log (0-4; 3 and 4 to debug CRIU, at a cost in dump and restore time)"),
        new("compact-heap", EngineOptionKind.Text, "auto", "compact the managed heap and trim native memory before the dump, so the image is small; auto: when the process exits with the dump, not with --keep-running (the pause would add to its freeze)"),
    ];

    /// <summary>
    /// The dump of process <paramref name="pid"/> (as the dumping side sees it) as its instructions
    /// say, logged at the chosen level: level 3 writes about 5,000 lines for a small ASP.NET app
    /// (15-25 ms of the dump, measured). A finished dump is told by its stats file, which CRIU
    /// writes only then (<see cref="CriuLog.DumpFinished"/>), not by the log's last line.
    /// </summary>
    public static List<string> Dump(int pid, string directory, CriuSettings settings, bool keepRunning)
    {
        var arguments = new List<string>
        {
            "dump", "-t", pid.ToString(CultureInfo.InvariantCulture), "-D", directory, "-o", DumpLog,
            "-v" + settings.LogLevel.ToString(CultureInfo.InvariantCulture),
        };
        AddCommon(arguments, settings);
        if (keepRunning)
        {
            arguments.Add("--leave-running");
        }

        if (settings.SkipInFlight)
        {
            arguments.Add("--skip-in-flight");
        }

        if (settings.GhostLimit != ImageCapabilities.DefaultGhostLimit)
        {
            arguments.Add("--ghost-limit");
            arguments.Add(settings.GhostLimit.ToString(CultureInfo.InvariantCulture));
        }

        return arguments;
    }

    // root: for an image that holds its own mount namespace, the directory its root mount is rebuilt on.
    // actionScript: run by CRIU at each stage (PagesVerdict's, which holds the process until its pages are checked).
    public static List<string> Restore(
        string directory, CriuSettings settings, bool detached, string pidFile, IEnumerable<string> inheritFds, string? root = null, string? actionScript = null,
        bool lazyPages = false)
    {
        var arguments = new List<string>
        {
            "restore", "-D", directory, "-o", RestoreLog, "-v" + settings.LogLevel.ToString(CultureInfo.InvariantCulture), "--pidfile", pidFile,
        };
        AddCommon(arguments, settings);
        if (lazyPages)
        {
            // The anonymous memory is left to the lazy-pages daemon (LazyPages), which serves it by userfaultfd.
            arguments.Add("--lazy-pages");
        }

        if (root is not null)
        {
            arguments.Add("--root");
            arguments.Add(root);
        }

        if (detached)
        {
            arguments.Add("--restore-detached");
        }

        if (actionScript is not null)
        {
            arguments.Add("--action-script");
            arguments.Add(actionScript);
        }

        foreach (string inherit in inheritFds)
        {
            arguments.Add("--inherit-fd");
            arguments.Add(inherit);
        }

        return arguments;
    }

    /// <summary>
    /// The daemon that serves a lazy restore's memory pages from the image: on the restored process's
    /// first touch of a page, and all the rest in the background; it exits once every page is in.
    /// </summary>
    public static List<string> LazyPages(string directory, CriuSettings settings) =>
        ["lazy-pages", "-D", directory, "-o", LazyPagesLog, "-v" + settings.LogLevel.ToString(CultureInfo.InvariantCulture)];

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
}
