using System.Diagnostics;
using Crac.Interop;

namespace Crac.Engines.Criu;

/// <summary>
/// A lazy restore: CRIU restores the process without its anonymous memory, and <c>criu lazy-pages</c>
/// serves each page over userfaultfd on first touch, and the rest in the background, then exits.
/// The process answers before its memory has all been copied, so a large image restores in about
/// the time of a small one; a small image restores faster without the daemon (docs/performance.md,
/// row 9: raw CRIU, 20 MB heap 140 ms plain against 184 ms lazy; 200 MB heap 264 ms against 195 ms).
/// </summary>
internal sealed class LazyPages : IDisposable
{
    /// <summary>From this much memory in the image, auto restores lazily (where the row 9 lines cross, ~90 MB).</summary>
    public const long AutoThreshold = 96L << 20;

    private readonly Process _daemon;
    private readonly string _log;

    private LazyPages(Process daemon, string log)
    {
        _daemon = daemon;
        _log = log;
    }

    public int DaemonPid => _daemon.Id;

    /// <summary>Why this host cannot restore lazily (userfaultfd cannot be opened), or null when it can.</summary>
    public static string? Unavailable()
    {
        int fd = (int)Libc.syscall(Libc.SYS_userfaultfd, Libc.O_CLOEXEC | Libc.O_NONBLOCK, 0, 0);
        if (fd < 0)
        {
            return $"userfaultfd(2) fails here ({Libc.LastErrorMessage()}): the kernel lacks it (CONFIG_USERFAULTFD), a seccomp profile blocks it, or vm.unprivileged_userfaultfd=0 for a user without CAP_SYS_PTRACE";
        }

        Libc.close(fd);
        return null;
    }

    /// <summary>
    /// Whether a restore goes lazily, for the option's value (auto, true, false), the image's memory
    /// (<paramref name="pageBytes"/>) and its largest private area; and when it is wanted but this
    /// host cannot, why.
    /// </summary>
    public static (bool Lazy, string? NotPossible) Choose(string mode, long pageBytes, Func<long> largestPrivateArea)
    {
        if (mode == "false" || (mode == "auto" && pageBytes < AutoThreshold))
        {
            return (false, null);
        }

        string? reason = Unavailable() ?? RefusedByOvercommit(largestPrivateArea());
        return (reason is null, reason);
    }

    /// <summary>
    /// A lazy restore maps every private area writable before the pages come (a plain one maps
    /// only those with pages so), and the kernel's overcommit check sees each whole area: with
    /// vm.overcommit_memory=0 it refuses one larger than RAM + swap. A .NET process without a
    /// memory limit reserves 256 GiB for the GC, and CRIU's lazy restore of it fails with
    /// "Unable to map ANON_VMA: Cannot allocate memory" (seen here, 24 GiB of RAM). Null when it fits.
    /// </summary>
    public static string? RefusedByOvercommit(long largestPrivateArea)
    {
        int mode = Procfs.ReadOvercommitMode() ?? 0;
        long? limit = mode switch
        {
            0 => Procfs.ReadMemInfoBytes("MemTotal") + (Procfs.ReadMemInfoBytes("SwapTotal") ?? 0),
            2 => Procfs.ReadMemInfoBytes("CommitLimit"),
            _ => null,
        };
        if (limit is not { } allowed || largestPrivateArea <= allowed)
        {
            return null;
        }

        return $"a lazy restore maps each private memory area writable at once, and the image's largest ({Gibibytes(largestPrivateArea)}, " +
               $"the GC's address reservation in a .NET process) is more than this kernel lets one mapping have " +
               $"(vm.overcommit_memory={mode}: {(mode == 0 ? "RAM + swap" : "CommitLimit")}, {Gibibytes(allowed)}). " +
               "Start the application with a smaller reservation, at least its largest heap (DOTNET_GCRegionRange=0x100000000 is 4 GiB; " +
               "a container memory limit shrinks it too), and checkpoint again; or set vm.overcommit_memory=1";
    }

    private static string Gibibytes(long bytes) => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 30):0.#} GiB");

    /// <summary>
    /// Starts the daemon on <paramref name="directory"/> and waits, within <paramref name="wait"/>,
    /// until it listens, so that <c>criu restore --lazy-pages</c> finds it. Its stdio is /dev/null:
    /// it outlives a detached restore's tool, and must hold none of the tool's pipes.
    /// </summary>
    public static LazyPages Start(string criu, string directory, CriuSettings settings, TimeSpan wait)
    {
        string socket = Path.Combine(directory, CriuCommandLine.LazyPagesSocket);
        File.Delete(socket); // a daemon that did not finish leaves it, and a new one could not bind
        string log = Path.Combine(directory, CriuCommandLine.LazyPagesLog);
        Process daemon = CriuBinary.StartPrivately(CriuBinary.CreateStart(
            criu, CriuCommandLine.LazyPages(directory, settings), new StdioFiles("/dev/null", "/dev/null", "/dev/null"), environment: null));
        var lazy = new LazyPages(daemon, log);
        var waited = Stopwatch.StartNew();
        while (!Listening(daemon.Id, socket))
        {
            if (daemon.HasExited || waited.Elapsed > wait)
            {
                string failure = daemon.HasExited
                    ? lazy.Explain()
                    : $"criu lazy-pages did not listen on {socket} within {wait.TotalSeconds:0} s and was stopped; its log is {log}.";
                lazy.Dispose();
                throw new CriuException(failure);
            }

            Thread.Sleep(1);
        }

        return lazy;
    }

    /// <summary>What the daemon says when a lazy restore failed: its error lines if it has ended, else where its log is.</summary>
    public string Explain() =>
        _daemon.HasExited
            ? CriuLog.Summarize("lazy-pages", _daemon.ExitCode, _log, string.Empty)
            : $"criu lazy-pages (pid {_daemon.Id}) still runs; its log is {_log}.";

    /// <summary>Stops the daemon if it still runs: when the restore failed and no process will ask for pages.</summary>
    public void Dispose()
    {
        if (!_daemon.HasExited)
        {
            _daemon.Kill();
            _daemon.WaitForExit(5000);
        }

        _daemon.Dispose();
    }

    /// <summary>Lets the daemon go on serving the restored process; it exits once every page is in.</summary>
    public void Release() => _daemon.Dispose();

    // The daemon binds the name relative to its work directory, so /proc/net/unix shows only
    // "lazy-pages.socket": the listening socket is found among the daemon's own.
    private static bool Listening(int daemon, string socket) =>
        File.Exists(socket) && Procfs.ReadSocketInodes(daemon) is { Count: > 0 } inodes
        && Procfs.ReadUnixSockets().Any(entry => entry.IsListening && inodes.Contains(entry.Inode));
}
