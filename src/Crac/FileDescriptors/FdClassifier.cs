using System.Runtime.InteropServices;
using Crac.Interop;

namespace Crac.FileDescriptors;

/// <summary>
/// Tells the runtime's own descriptors, and others that are safe to keep, from those the
/// application must close. It decides by what a descriptor is, not by a snapshot taken at
/// start-up, because the agent may load late and the runtime opens more as it goes.
/// </summary>
internal static class FdClassifier
{
    // Descriptors without close-on-exec that were open when the agent started, by fd and inode.
    private static Dictionary<int, ulong>? _inheritedAtStart;

    private static readonly string[] AssemblySuffixes = [".dll", ".exe", ".so", ".ni.dll", ".r2r.dll"];
    private static readonly string[] HarmlessDevices = ["/dev/null", "/dev/zero", "/dev/full", "/dev/urandom", "/dev/random"];

    public static IReadOnlyList<FdAssessment> Assess(IReadOnlyList<FdEntry> entries, ResourcePolicies? policies = null)
    {
        var stdioTargets = entries.Where(e => e.Fd <= 2).Select(e => e.Target).ToHashSet(StringComparer.Ordinal);
        var pipeEnds = entries.Where(e => e.Kind == FdKind.Pipe).GroupBy(e => e.Inode).ToDictionary(g => g.Key, g => g.Count());
        string runtimeDirectory = RuntimeEnvironment.GetRuntimeDirectory();

        var assessments = new List<FdAssessment>(entries.Count);
        foreach (FdEntry entry in entries)
        {
            string? safeReason = SafeReason(entry, stdioTargets, pipeEnds, runtimeDirectory);
            FdAssessment assessment = safeReason is not null
                ? new FdAssessment(entry, Blocking: false, safeReason)
                : new FdAssessment(entry, Blocking: true, BlockingReason(entry));
            if (assessment.Blocking && policies?.Match(entry) is { } rule)
            {
                assessment = assessment with
                {
                    Blocking = rule.Action == PolicyAction.Error,
                    Reason = $"{assessment.Reason}; {rule.Describe()}",
                    Rule = rule,
                };
            }

            assessments.Add(assessment with { Origin = FdOrigins.Find(entry) });
        }

        return assessments;
    }

    /// <summary>
    /// Notes the descriptors the process was started with. Everything the runtime opens is
    /// O_CLOEXEC, so one without it was inherited, or opened later by native code that did not
    /// ask for it (zlib's gzopen does not): only the first kind is in this snapshot.
    /// </summary>
    /// <remarks>
    /// This runs at start-up, so it asks the kernel directly (one fcntl per possible fd) rather
    /// than reading /proc: it must cost the application next to nothing.
    /// </remarks>
    public static void CaptureInheritedDescriptors()
    {
        var inherited = new Dictionary<int, ulong>();
        for (int fd = 0; fd < InheritedScanLimit; fd++)
        {
            int flags = Libc.fcntl(fd, Libc.F_GETFD);
            if (flags >= 0 && (flags & Libc.FD_CLOEXEC) == 0 && Libc.TryGetInode(fd, out ulong inode))
            {
                inherited[fd] = inode;
            }
        }

        _inheritedAtStart = inherited;
    }

    // Shells and service managers hand down fds in the low hundreds (bash uses 255).
    private const int InheritedScanLimit = 1024;

    /// <summary>
    /// After a restore the inherited descriptors are back at their numbers, but CRIU recreated
    /// them (a pipe gets a new inode): note what they are now.
    /// </summary>
    public static void RefreshInheritedDescriptors()
    {
        if (_inheritedAtStart is not { } previous)
        {
            return;
        }

        _inheritedAtStart = FdScanner.Scan().Where(e => !e.CloseOnExec && previous.ContainsKey(e.Fd)).ToDictionary(e => e.Fd, e => e.Inode);
    }

    /// <summary>Whether a unix socket belongs to this process's diagnostics server (a session or the listener).</summary>
    public static bool IsDiagnosticsSocket(FdEntry entry) =>
        entry.Kind == FdKind.UnixSocket && DiagnosticsSocket.BelongsTo(entry.Socket?.LocalPath, Environment.ProcessId);

    private static string? SafeReason(
        FdEntry entry, HashSet<string> stdioTargets, Dictionary<ulong, int> pipeEnds, string runtimeDirectory)
    {
        if (entry.Fd <= 2)
        {
            return "stdio";
        }

        if (stdioTargets.Contains(entry.Target) && IsDuplicateOfStdio(entry.Fd))
        {
            return "a duplicate of stdio (the runtime's and Console's)";
        }

        if ((entry.Flags & Libc.O_PATH) != 0)
        {
            return "closed by a resource policy (an O_PATH placeholder keeps the number taken)";
        }

        if (!entry.CloseOnExec && (_inheritedAtStart is not { } inherited || inherited.GetValueOrDefault(entry.Fd) == entry.Inode))
        {
            return "inherited from the parent process (no close-on-exec)";
        }

        switch (entry.Kind)
        {
            case FdKind.Memfd when entry.Target.StartsWith("/memfd:doublemapper", StringComparison.Ordinal):
                return "the runtime's W^X double mapping (memfd:doublemapper)";
            case FdKind.CharacterDevice when HarmlessDevices.Contains(entry.Path):
                return entry.Path is "/dev/urandom" or "/dev/random" ? "the runtime's random source" : "a stateless device";
            case FdKind.CharacterDevice when entry.Path is { } device && (device.StartsWith("/dev/pts/", StringComparison.Ordinal) || device == "/dev/tty"):
                return "the terminal (restored as a shell job)";
            case FdKind.UnixSocket when IsDiagnosticsSocket(entry):
                return entry.Socket!.Listening
                    ? "the runtime's diagnostics server (dotnet-crac's channel)"
                    : "a diagnostics session (dotnet-crac, dotnet-trace...); it closes before the image is taken";
            case FdKind.Pipe when pipeEnds.GetValueOrDefault(entry.Inode) >= 2:
                return "a pipe with both ends in this process (the runtime's wake-up pipes)";
            case FdKind.File when entry.IsReadOnly && IsAssembly(entry.Path!, runtimeDirectory):
                return "an assembly the runtime loaded";
            case FdKind.EventPoll:
                return "the socket engine's epoll";
            case FdKind.Inotify:
                return "inotify (FileSystemWatcher, e.g. configuration reload); CRIU restores its watches";
            case FdKind.EventFd or FdKind.SignalFd or FdKind.TimerFd:
                return "a kernel event object CRIU restores";
            default:
                return null;
        }
    }

    // A dup shares the open file description; an independent open of the same path does not.
    private static bool IsDuplicateOfStdio(int fd)
    {
        for (int stdio = 0; stdio <= 2; stdio++)
        {
            if (Libc.SameOpenFile(fd, stdio) ?? true)
            {
                return true;
            }
        }

        return false;
    }

    private static string BlockingReason(FdEntry entry) => entry.Kind switch
    {
        FdKind.Pipe => "a pipe to another process",
        FdKind.TcpSocket or FdKind.UdpSocket or FdKind.UnixSocket or FdKind.Socket => "a socket opened by the application",
        FdKind.Fifo => "a named pipe opened by the application",
        _ => "opened by the application",
    };

    private static bool IsAssembly(string path, string runtimeDirectory) =>
        path.StartsWith(runtimeDirectory, StringComparison.Ordinal)
        || AssemblySuffixes.Any(suffix => path.EndsWith(suffix, StringComparison.OrdinalIgnoreCase));
}
