using System.Globalization;
using System.Runtime.InteropServices;
using Crac.Engines;
using Crac.Interop;

namespace Crac.FileDescriptors;

/// <summary>
/// Judges every descriptor as the dump will treat it: the runtime's own are recognised by what
/// they are (not by a start-up snapshot: the agent may load late and the runtime opens more as it
/// goes); every other kind gets the verdict CRIU's handling of it deserves with the options the
/// engine will pass (<see cref="ImageCapabilities"/>), and, where the checkpoint handles it by
/// itself, the action it takes. A blocking verdict names the fix.
/// </summary>
/// <remarks>
/// CRIU is the judge of what an image can hold, measured kind by kind on CRIU 4.2 (the agreement
/// tests hold the two together). Two kinds CRIU takes are refused anyway, because the restored
/// process would carry on with something that leads nowhere: a pipe to a process outside the
/// image, and a unix socket connected to another process's socket. An outbound TCP connection is
/// never closed under the library that owns it.
/// </remarks>
internal static class FdClassifier
{
    // Descriptors without close-on-exec that were open when the agent started: the inode of each,
    // by its number; 0 where none was inherited (no file has inode 0). An array, not a dictionary: at start-up a Dictionary<int, ulong> is JIT
    // compiled (0.8 ms beside the application's own start, docs/performance.md row 8).
    private static ulong[]? _inheritedAtStart;

    private static readonly string[] AssemblySuffixes = [".dll", ".exe", ".so", ".ni.dll", ".r2r.dll"];
    private static readonly string[] HarmlessDevices = ["/dev/null", "/dev/zero", "/dev/full", "/dev/urandom", "/dev/random"];

    // Device majors CRIU dumps: memory devices (null, zero, random...) and terminals (vt, tty/console/ptmx, pts).
    private const uint MemoryMajor = 1;
    private static readonly uint[] TerminalMajors = [4, 5, 136, 137, 138, 139, 140, 141, 142, 143];

    /// <summary>Judges every descriptor of a scan.</summary>
    /// <param name="entries">The scan.</param>
    /// <param name="capabilities">What the engine's image takes along as it is.</param>
    /// <param name="policies">The operator's and the application's rules, in precedence order.</param>
    /// <param name="anticipateClaims">
    /// Judge as a checkpoint would find the process once its resources ran: descriptors a resource
    /// closes by itself (<see cref="FdClaims"/>) do not block. For status and fds, never for the checkpoint itself.
    /// </param>
    public static IReadOnlyList<FdAssessment> Assess(IReadOnlyList<FdEntry> entries, ImageCapabilities capabilities, PolicySet policies, bool anticipateClaims = false)
    {
        var context = new Context(entries, capabilities);
        var assessments = new List<FdAssessment>(entries.Count);
        foreach (FdEntry entry in entries)
        {
            FdAssessment assessment = RuntimeReason(entry, context) is { } runtime
                ? new FdAssessment(entry, Blocking: false, runtime)
                : ApplyPolicy(Judge(entry, context), policies);
            if (anticipateClaims && assessment.Blocking && FdClaims.OwnerOf(entry) is { } owner)
            {
                assessment = new FdAssessment(entry, Blocking: false, $"{owner} closes it before every checkpoint") { Action = FdAutomaticAction.ClosedByOwner };
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
    /// This runs at start-up, so it asks the kernel directly (one poll, then a fcntl per open fd)
    /// rather than reading /proc: it must cost the application next to nothing.
    /// </remarks>
    public static unsafe void CaptureInheritedDescriptors()
    {
        // One poll(2) over every number finds the few that are open (POLLNVAL marks the rest);
        // a fcntl for each of the 1024 numbers took 0.45 ms. poll refuses more numbers than the
        // process's fd limit, and then each is asked.
        Libc.PollFd* probes = stackalloc Libc.PollFd[InheritedScanLimit];
        for (int fd = 0; fd < InheritedScanLimit; fd++)
        {
            probes[fd] = new Libc.PollFd { Fd = fd };
        }

        bool polled = Libc.poll(probes, InheritedScanLimit, 0) >= 0;
        var inherited = new ulong[InheritedScanLimit];
        int end = 0;
        for (int fd = 0; fd < InheritedScanLimit; fd++)
        {
            if ((!polled || (probes[fd].ReturnedEvents & Libc.POLLNVAL) == 0) && InheritedInode(fd) is { } inode)
            {
                inherited[fd] = inode;
                end = fd + 1;
            }
        }

        _inheritedAtStart = inherited[..end];
    }

    // Shells and service managers hand down fds in the low hundreds (bash uses 255).
    private const int InheritedScanLimit = 1024;

    /// <summary>
    /// After a restore the inherited descriptors are back at their numbers, but CRIU recreated
    /// them (a pipe gets a new inode): note what they are now.
    /// </summary>
    public static void RefreshInheritedDescriptors()
    {
        if (InheritedDescriptorsNow() is { } refreshed)
        {
            _inheritedAtStart = refreshed;
        }
    }

    /// <summary>Those of the descriptors inherited at start-up that are still inherited, as they are now; null if none were noted.</summary>
    internal static ulong[]? InheritedDescriptorsNow()
    {
        if (_inheritedAtStart is not { } previous)
        {
            return null;
        }

        // Only the few inherited fds are looked at (not a full scan): this runs on the restore's critical path.
        var refreshed = new ulong[previous.Length];
        for (int fd = 0; fd < previous.Length; fd++)
        {
            if (previous[fd] != 0 && InheritedInode(fd) is { } inode)
            {
                refreshed[fd] = inode;
            }
        }

        return refreshed;
    }

    // The inode of an open descriptor without close-on-exec; null for any other.
    private static ulong? InheritedInode(int fd)
    {
        int flags = Libc.fcntl(fd, Libc.F_GETFD);
        return flags >= 0 && (flags & Libc.FD_CLOEXEC) == 0 && Libc.TryGetInode(fd, out ulong inode) ? inode : null;
    }

    /// <summary>Whether a unix socket belongs to this process's diagnostics server (a session or the listener).</summary>
    public static bool IsDiagnosticsSocket(FdEntry entry) =>
        entry.Kind == FdKind.UnixSocket && DiagnosticsSocket.BelongsTo(entry.Socket?.LocalPath, Environment.ProcessId);

    /// <summary>A rule of the operator's or the application's policies overrides the verdict: the first that matches.</summary>
    private static FdAssessment ApplyPolicy(FdAssessment assessment, PolicySet policies)
    {
        if (policies.Match(assessment.Entry) is not { } rule)
        {
            return assessment;
        }

        return assessment with
        {
            Blocking = rule.Action == PolicyAction.Error,
            Reason = $"{assessment.Reason}; {rule.Describe()}",
            Fix = rule.Action == PolicyAction.Error ? $"the policy asks for an error: change {rule.Source}, line {rule.Line}, or close it in a resource" : null,
            Action = FdAutomaticAction.None,
            Rule = rule,
        };
    }

    /// <summary>The runtime's own descriptors, and those inherited from the parent: never the application's to close, nor a policy's.</summary>
    private static string? RuntimeReason(FdEntry entry, Context context)
    {
        if (entry.Fd <= 2)
        {
            return "stdio";
        }

        if (context.StdioTargets.Contains(entry.Target) && IsDuplicateOfStdio(entry.Fd))
        {
            return "a duplicate of stdio (the runtime's and Console's)";
        }

        if ((entry.Flags & Libc.O_PATH) != 0)
        {
            return "closed by a resource policy (an O_PATH placeholder keeps the number taken)";
        }

        if (!entry.CloseOnExec && (_inheritedAtStart is not { } inherited || (entry.Fd < inherited.Length && inherited[entry.Fd] != 0 && inherited[entry.Fd] == entry.Inode)))
        {
            return "inherited from the parent process (no close-on-exec)";
        }

        if (entry.HasLock)
        {
            // A lock decides by itself whether CRIU takes the file, assembly or not.
            return null;
        }

        return entry.Kind switch
        {
            FdKind.Memfd when entry.Target.StartsWith("/memfd:doublemapper", StringComparison.Ordinal) => "the runtime's W^X double mapping (memfd:doublemapper)",
            FdKind.CharacterDevice when HarmlessDevices.Contains(entry.Path) =>
                entry.Path is "/dev/urandom" or "/dev/random" ? "the runtime's random source" : "a stateless device",
            FdKind.CharacterDevice when entry.Path is { } device && (device.StartsWith("/dev/pts/", StringComparison.Ordinal) || device == "/dev/tty") =>
                "the terminal (restored as a shell job)",
            FdKind.UnixSocket when IsDiagnosticsSocket(entry) => entry.Socket!.Listening
                ? "the runtime's diagnostics server (dotnet-crac's channel)"
                : "a diagnostics session (dotnet-crac, dotnet-trace...); it closes before the image is taken",
            FdKind.Pipe when context.PipeEnds.GetValueOrDefault(entry.Inode) >= 2 => "a pipe with both ends in this process (the runtime's wake-up pipes)",
            FdKind.File when entry.IsReadOnly && IsAssembly(entry.Path!, context.RuntimeDirectory) => "an assembly the runtime loaded",
            FdKind.File when entry.IsReadOnly && entry.Path!.EndsWith(".pdb", StringComparison.OrdinalIgnoreCase) =>
                "a symbol file of the runtime's stack-trace cache, released before every checkpoint",
            FdKind.EventPoll => "the socket engine's epoll",
            FdKind.Inotify => "inotify (FileSystemWatcher, e.g. configuration reload); CRIU restores its watches",
            _ => null,
        };
    }

    private static FdAssessment Judge(FdEntry entry, Context context)
    {
        if (entry.HasLock)
        {
            return JudgeLocks(entry, context.Capabilities);
        }

        return entry.Kind switch
        {
            FdKind.File when entry.IsDeleted => JudgeDeleted(entry, context.Capabilities),
            FdKind.File => Ok(entry, "CRIU reopens it by path at restore, at the same position (the file must be there, with the same size)"),
            FdKind.Directory => Ok(entry, "CRIU reopens it by path at restore"),
            FdKind.Fifo => Ok(entry, "a named pipe: CRIU reopens it by path at restore"),
            FdKind.Pipe => JudgePipe(entry, context),
            FdKind.TcpSocket => JudgeTcp(entry, context),
            FdKind.UdpSocket => Ok(entry, "UDP: CRIU restores it, bound to the same address"),
            FdKind.UnixSocket => JudgeUnix(entry, context),
            FdKind.Socket => entry.Socket?.Family is "netlink" or "packet" || entry.Socket?.Type == "raw"
                ? Ok(entry, $"a {entry.Socket?.Family ?? "raw"} socket: CRIU restores it")
                : Bad(entry, $"a socket of address family {entry.Socket?.Family ?? "?"}: CRIU cannot dump it", CloseOrPolicy("socket")),
            FdKind.EventFd or FdKind.SignalFd or FdKind.TimerFd or FdKind.PidFd or FdKind.Fanotify => Ok(entry, $"a kernel {entry.KindName} object: CRIU restores it"),
            FdKind.EventPoll => Ok(entry, "epoll: CRIU restores it with its registrations"),
            FdKind.Inotify => Ok(entry, "inotify: CRIU restores its watches"),
            FdKind.Memfd => Ok(entry, "a memory file: CRIU keeps its content in the image"),
            FdKind.CharacterDevice => JudgeDevice(entry),
            FdKind.BlockDevice => Ok(entry, "a block device: CRIU reopens it by path at restore"),
            FdKind.AnonInode => Bad(entry, $"{entry.Target}: CRIU cannot dump this kind of kernel object (userfaultfd, io_uring, perf and bpf objects among them)", CloseOrPolicy("filedescriptor")),
            FdKind.Unknown => Bad(entry, $"{entry.Target}: a kind of descriptor CRIU does not know", CloseOrPolicy("filedescriptor")),
        };
    }

    private static FdAssessment JudgeLocks(FdEntry entry, ImageCapabilities capabilities)
    {
        string locks = string.Join(" and ", entry.Locks.Select(l => l.ToString()));
        bool sharedOnReadOnly = entry.IsReadOnly && entry.Locks.All(l => !l.Exclusive && l.Kind != FileLockKind.Lease);
        return capabilities.Locks switch
        {
            FileLockHandling.TakeAll => Ok(entry, $"holds {locks}: CRIU takes it along (file-locks=true)", FdAutomaticAction.TakeLockAlong),
            FileLockHandling.TakeSharedReadLocks when sharedOnReadOnly =>
                Ok(entry, $"read-only, holds {locks}: CRIU takes the lock along (--file-locks)", FdAutomaticAction.TakeLockAlong),
            FileLockHandling.TakeSharedReadLocks => Bad(entry,
                $"holds {locks} on a file open for {(entry.IsReadOnly ? "reading" : "writing")}: CRIU takes only shared locks on read-only files along by default",
                $"close it in a resource's BeforeCheckpointAsync, or let the checkpoint close it and reopen it after the restore with a policy " +
                $"(type: file, path: {entry.Path}, action: reopen) given with --policies, or take the lock along as it is with --engine-options file-locks=true"),
            FileLockHandling.Refuse => Bad(entry, $"holds {locks}: CRIU refuses file locks (file-locks=false)",
                "close it in a resource, or allow locks with --engine-options file-locks=auto (the default) or true"),
        };
    }

    private static FdAssessment JudgeDeleted(FdEntry entry, ImageCapabilities capabilities) =>
        entry.Size <= capabilities.GhostLimit
            ? Ok(entry, $"deleted while open: CRIU keeps its {entry.Size} bytes in the image")
            : Bad(entry, $"deleted while open, {entry.Size} bytes: more than the image keeps of a deleted file ({capabilities.GhostLimit} bytes)",
                $"close it in a resource, or raise the limit with --engine-options ghost-limit={entry.Size.ToString(CultureInfo.InvariantCulture)}");

    private static FdAssessment JudgePipe(FdEntry entry, Context context) =>
        context.ChildHolding(entry.Inode) is { } child
            ? Ok(entry, $"a pipe to child process {child}, which the image holds too")
            : Bad(entry, "a pipe to another process, outside the image: CRIU takes it, but the restored process would write into (or wait on) a pipe that leads nowhere",
                "close it in a resource (or make the process at its other end a child of this one), or add a policy (type: pipe, action: close)");

    private static FdAssessment JudgeTcp(FdEntry entry, Context context)
    {
        SocketEndpoint socket = entry.Socket!;
        ImageCapabilities capabilities = context.Capabilities;
        if (socket.Listening)
        {
            string waiting = socket.Backlog is > 0 ? $" ({socket.Backlog} waiting now)" : string.Empty;
            return Ok(entry, $"listening: CRIU restores it; connections not yet accepted{waiting} are dropped", FdAutomaticAction.KeepListening);
        }

        if (socket.TcpState is null or TcpState.Close or TcpState.Unknown)
        {
            return Ok(entry, "not connected: CRIU restores it");
        }

        if (capabilities.PreservesConnections)
        {
            return Ok(entry, "connected: CRIU dumps it and restores it as it is (tcp-established)");
        }

        if (context.IsInbound(socket))
        {
            return capabilities.ClosesInbound
                ? Ok(entry, "accepted by this process: shut down before the dump (its client sees a close) and restored closed", FdAutomaticAction.CloseInbound)
                : Bad(entry, "a connection this process accepted: CRIU refuses connected TCP sockets without tcp-close or tcp-established",
                    "leave tcp-close at its default (auto), or restore connections as they are with --engine-options tcp-established=true");
        }

        if (capabilities.ClosesOutbound)
        {
            return Ok(entry, $"an outbound connection to {socket.RemoteAddress}:{socket.RemotePort}: restored closed (tcp-close=true), so its owner finds it closed after the restore");
        }

        return Bad(entry,
            $"an outbound connection to {socket.RemoteAddress}:{socket.RemotePort}: its owner still thinks it open, so it is never closed under it",
            "close it (or its connection pool) in a resource's BeforeCheckpointAsync: AddCrac() does it for HttpClient, Npgsql and StackExchange.Redis; " +
            $"or, if its owner copes with a dropped connection, a policy (type: socket, remotePort: {socket.RemotePort}, action: close)");
    }

    private static FdAssessment JudgeUnix(FdEntry entry, Context context)
    {
        SocketEndpoint socket = entry.Socket!;
        if (socket.Listening)
        {
            return Ok(entry, "listening: CRIU restores it");
        }

        int self = Environment.ProcessId;
        if (socket.PeerPid == self)
        {
            return Ok(entry, "both ends in this process: CRIU restores the pair");
        }

        if (socket.PeerPid is { } peer && context.IsDescendant(peer))
        {
            return Ok(entry, $"connected to child process {peer}, which the image holds too");
        }

        if (socket.IsUnixStream && !string.IsNullOrEmpty(socket.LocalPath) && context.UnixListenerPaths.Contains(socket.LocalPath))
        {
            return Ok(entry, "accepted by this process: shut down and closed before the dump (its client sees a close)", FdAutomaticAction.CloseInbound);
        }

        if (socket.IsUnixStream && socket.PeerPid is not null)
        {
            return Bad(entry,
                $"connected to {(string.IsNullOrEmpty(socket.RemotePath) ? "a socket" : socket.RemotePath)} of process {socket.PeerPid}, outside the image: CRIU refuses it (External socket is used), or restores it unconnected",
                CloseOrPolicy("socket"));
        }

        if (!string.IsNullOrEmpty(socket.RemotePath) && !context.UnixBoundPaths.Contains(socket.RemotePath))
        {
            return Bad(entry,
                $"a datagram socket connected to {socket.RemotePath} of another process: CRIU refuses it (External socket is used)",
                CloseOrPolicy("socket"));
        }

        return Ok(entry, "not connected to another process: CRIU restores it");
    }

    private static FdAssessment JudgeDevice(FdEntry entry) =>
        entry.DeviceMajor == MemoryMajor ? Ok(entry, "a memory device: CRIU reopens it")
        : TerminalMajors.Contains(entry.DeviceMajor) ? Ok(entry, "a terminal or pseudo-terminal: CRIU restores it")
        : Bad(entry, $"device {entry.Path} ({entry.DeviceMajor}:{entry.DeviceMinor}): CRIU cannot dump it", CloseOrPolicy("file"));

    private static string CloseOrPolicy(string policyType) =>
        $"close it in a resource's BeforeCheckpointAsync, or add a policy (type: {policyType}, action: close) with --policies or {ResourcePolicies.EnvironmentVariable}";

    private static FdAssessment Ok(FdEntry entry, string reason, FdAutomaticAction action = FdAutomaticAction.None) =>
        new(entry, Blocking: false, reason) { Action = action };

    private static FdAssessment Bad(FdEntry entry, string reason, string fix) =>
        new(entry, Blocking: true, reason) { Fix = fix };

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

    private static bool IsAssembly(string path, string runtimeDirectory) =>
        path.StartsWith(runtimeDirectory, StringComparison.Ordinal)
        || AssemblySuffixes.Any(suffix => path.EndsWith(suffix, StringComparison.OrdinalIgnoreCase));

    /// <summary>What judging one descriptor needs to know about the others, gathered once per scan.</summary>
    private sealed class Context(IReadOnlyList<FdEntry> entries, ImageCapabilities capabilities)
    {
        private HashSet<int>? _descendants;
        private Dictionary<ulong, int>? _childPipes;

        public ImageCapabilities Capabilities { get; } = capabilities;

        public string RuntimeDirectory { get; } = RuntimeEnvironment.GetRuntimeDirectory();

        public HashSet<string> StdioTargets { get; } = entries.Where(e => e.Fd <= 2).Select(e => e.Target).ToHashSet(StringComparer.Ordinal);

        public Dictionary<ulong, int> PipeEnds { get; } = entries.Where(e => e.Kind == FdKind.Pipe).GroupBy(e => e.Inode).ToDictionary(g => g.Key, g => g.Count());

        private List<SocketEndpoint> TcpListeners { get; } = [.. entries.Select(e => e.Socket).OfType<SocketEndpoint>().Where(s => s.IsTcp && s.Listening)];

        public HashSet<string> UnixListenerPaths { get; } = entries.Select(e => e.Socket)
            .Where(s => s is { Family: "unix", Listening: true } && !string.IsNullOrEmpty(s.LocalPath)).Select(s => s!.LocalPath!).ToHashSet(StringComparer.Ordinal);

        public HashSet<string> UnixBoundPaths { get; } = entries.Select(e => e.Socket)
            .Where(s => s is { Family: "unix" } && !string.IsNullOrEmpty(s.LocalPath)).Select(s => s!.LocalPath!).ToHashSet(StringComparer.Ordinal);

        /// <summary>A connection this process accepted: its local port is one this process listens on.</summary>
        public bool IsInbound(SocketEndpoint socket) =>
            TcpListeners.Any(listener => listener.LocalPort == socket.LocalPort
                && (listener.LocalAddress == socket.LocalAddress || listener.LocalAddress is "0.0.0.0" or "::"));

        public bool IsDescendant(int pid) => (_descendants ??= [.. Procfs.ReadDescendants(Environment.ProcessId)]).Contains(pid);

        /// <summary>The child process that holds the other end of a pipe, if one does: CRIU dumps the whole tree.</summary>
        public int? ChildHolding(ulong pipeInode)
        {
            if (_childPipes is null)
            {
                _childPipes = [];
                foreach (int child in Procfs.ReadDescendants(Environment.ProcessId))
                {
                    foreach (string target in Procfs.ReadFdTargets(child).Where(t => t.StartsWith("pipe:[", StringComparison.Ordinal)))
                    {
                        if (ulong.TryParse(target.AsSpan(6, target.Length - 7), NumberStyles.None, CultureInfo.InvariantCulture, out ulong inode))
                        {
                            _childPipes.TryAdd(inode, child);
                        }
                    }
                }
            }

            return _childPipes.TryGetValue(pipeInode, out int pid) ? pid : null;
        }
    }
}
