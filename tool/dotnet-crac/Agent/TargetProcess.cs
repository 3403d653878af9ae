using System.Globalization;
using Crac.Interop;

namespace Crac.Tool.Agent;

/// <summary>
/// A process the operator named, checked the way an operator would want it checked before
/// anything is sent: it exists, it is .NET, this user may talk to it, and the agent is in it.
/// Each failure says what is wrong and what to do.
/// </summary>
internal sealed class TargetProcess
{
    private const string AgentAssemblyFile = "Crac.Agent.dll";

    private TargetProcess(int pid, string name)
    {
        Pid = pid;
        Name = name;
    }

    public int Pid { get; }

    public string Name { get; }

    public string Display => $"{Pid} ({Name})";

    /// <summary>
    /// The live processes, other than this one, with a diagnostics socket: in this user's temp
    /// directory, or, for a process in another pid or mount namespace (a container, a sidecar's
    /// neighbour, <c>dotnet crac run --pid-namespace</c>), in its own temp directory under its own pid.
    /// </summary>
    /// <remarks>
    /// Not DiagnosticsClient.GetPublishedProcesses: it throws when a kernel thread's environ cannot
    /// be read (ESRCH for /proc/2/environ here). A killed process leaves its socket file behind, and
    /// its pid may since be another process's (a socket made in another pid namespace never named
    /// ours). So a pid counts only while a socket is listening on that path, held by that process
    /// where its fds can be read. The key in the name cannot tell: it is the start time, and a
    /// restored process started anew.
    /// </remarks>
    public static IEnumerable<int> PublishedProcesses()
    {
        SortedSet<int> pids = PublishedHere(null);
        foreach (int pid in Procfs.ListProcessIds())
        {
            if (pid != Environment.ProcessId && !pids.Contains(pid) && IsElsewhere(pid) && IsPublishedElsewhere(pid))
            {
                pids.Add(pid);
            }
        }

        return pids;
    }

    /// <summary>Whether this one process has a live diagnostics socket, without examining every other's.</summary>
    private static bool IsPublished(int pid) => IsElsewhere(pid) ? IsPublishedElsewhere(pid) : PublishedHere(pid).Count > 0;

    /// <summary>Whether the process knows itself by another pid, or sees other files, than this tool does.</summary>
    private static bool IsElsewhere(int pid) => Procfs.ReadNamespacePid(pid) != pid || Procfs.HasOtherNamespace(pid, "mnt");

    private static SortedSet<int> PublishedHere(int? pid)
    {
        var pids = new SortedSet<int>();
        Dictionary<string, ulong> listeners = Procfs.ReadUnixSockets()
            .Where(socket => socket.IsListening && socket.Path is not null)
            .GroupBy(socket => socket.Path!, StringComparer.Ordinal)
            .ToDictionary(group => group.Key, group => group.First().Inode, StringComparer.Ordinal);
        foreach (string socket in Directory.EnumerateFiles(Path.GetTempPath(), DiagnosticsSocket.SearchPattern(pid)))
        {
            if (DiagnosticsSocket.TryParsePid(socket, out int owner)
                && owner != Environment.ProcessId
                && listeners.TryGetValue(socket, out ulong inode)
                && IsLive(owner)
                && Procfs.ReadSocketInodes(owner)?.Contains(inode) != false)
            {
                pids.Add(owner);
            }
        }

        return pids;
    }

    /// <summary>
    /// A process in another namespace: it holds a socket listening on its diagnostics path as it
    /// sees it (its TMPDIR, its own pid; its network namespace's /proc/PID/net/unix), and the
    /// socket file is there, reached through /proc/PID/root.
    /// </summary>
    private static bool IsPublishedElsewhere(int pid) => ReachSocket(pid) is not null;

    /// <summary>
    /// The diagnostics socket of a process in another namespace, as this tool reaches it (through
    /// /proc/PID/root): the one it listens on, which the pid in a shared /tmp cannot tell apart.
    /// </summary>
    public static string? ReachSocket(int pid)
    {
        if (!IsLive(pid) || Procfs.ReadSocketInodes(pid) is not { } held)
        {
            return null;
        }

        int ownPid = Procfs.ReadNamespacePid(pid);
        string temporaryDirectory = TemporaryDirectoryOf(pid);
        return Procfs.ReadUnixSockets(pid)
            .Where(socket => socket.IsListening && held.Contains(socket.Inode) && socket.Path is { } path
                && DiagnosticsSocket.BelongsTo(path, ownPid)
                && string.Equals(Path.GetDirectoryName(path) + "/", temporaryDirectory, StringComparison.Ordinal))
            .Select(socket => Procfs.PathSeenBy(pid, socket.Path!))
            .FirstOrDefault(File.Exists);
    }

    /// <summary>Whether this tool reaches the process only through its namespaces (a container, a sidecar's neighbour).</summary>
    public bool IsInOtherNamespace => IsElsewhere(Pid);

    /// <summary>Whether the process exists and is neither a zombie nor exiting.</summary>
    public static bool IsLive(int pid) => ProcStat.Read(pid) is { IsDead: false };

    /// <summary>Resolves <c>&lt;pid&gt;</c>, <c>-p</c> or <c>-n</c> to one process.</summary>
    public static TargetProcess Resolve(int? pid, string? name)
    {
        if (pid is not null && name is not null)
        {
            throw new ToolException(ReturnCode.ArgumentError, "Give either a process id or --name, not both.");
        }

        if (pid is null && name is null)
        {
            throw new ToolException(ReturnCode.ArgumentError, "Name the process: dotnet crac <command> <pid>, -p <pid> or -n <name>. `dotnet crac ps` lists .NET processes.");
        }

        if (name is not null)
        {
            int[] matches = PublishedProcesses().Where(candidate => MatchesName(candidate, name)).ToArray();
            return matches.Length switch
            {
                0 => throw new ToolException(ReturnCode.ProcessNotFound, $"No .NET process named '{name}' is running. `dotnet crac ps` lists .NET processes."),
                1 => Open(matches[0]),
                _ => throw new ToolException(ReturnCode.ArgumentError,
                    $"{matches.Length} .NET processes are named '{name}' ({string.Join(", ", matches)}). Pass the one you mean with -p <pid>."),
            };
        }

        return Open(pid!.Value);
    }

    /// <summary>Checks that the process exists and is .NET (has a diagnostics socket).</summary>
    public static TargetProcess Open(int pid)
    {
        if (pid <= 0)
        {
            throw new ToolException(ReturnCode.ArgumentError, $"{pid} is not a process id.");
        }

        if (!Exists(pid))
        {
            throw new ToolException(ReturnCode.ProcessNotFound, $"No process with id {pid} exists (it may have exited). `dotnet crac ps` lists .NET processes.");
        }

        string name = ReadName(pid);
        if (!IsPublished(pid))
        {
            if (Libc.kill(pid, 0) != 0 && System.Runtime.InteropServices.Marshal.GetLastPInvokeError() == Libc.EPERM)
            {
                throw PermissionDenied(pid, name);
            }

            throw new ToolException(ReturnCode.NotDotNetProcess,
                $"Process {pid} ({name}) is not a .NET process: it has no diagnostics socket ({DiagnosticsSocket.SearchPattern(pid)} in its TMPDIR). " +
                "If it is .NET, it was started with DOTNET_EnableDiagnostics=0, or with another TMPDIR than this shell's.");
        }

        return new TargetProcess(pid, name);
    }

    /// <summary>
    /// Whether the agent assembly is mapped into the process, from /proc/PID/maps: an answer
    /// without opening a session. Null when the maps cannot be read (another user's process).
    /// </summary>
    public bool? HasAgent() =>
        // " (deleted)" when the agent's file was replaced since (an upgraded tool).
        Procfs.ReadMappedPaths(Pid)?.Any(path =>
            path.EndsWith("/" + AgentAssemblyFile, StringComparison.Ordinal) || path.EndsWith("/" + AgentAssemblyFile + " (deleted)", StringComparison.Ordinal));

    /// <summary>Throws the "agent not loaded" error, with the ways to load it, if the agent is known to be absent.</summary>
    public void RequireAgent()
    {
        if (HasAgent() == false)
        {
            throw new ToolException(ReturnCode.AgentNotLoaded, AgentNotLoadedMessage(Pid, Name));
        }
    }

    public static string AgentNotLoadedMessage(int pid, string name) =>
        $"Process {pid} ({name}) is a .NET process, but the dotnet-crac agent is not loaded in it, so it cannot be coordinated. Start it with the agent:\n" +
        "  dotnet crac run -- <command>                       (e.g. dotnet crac run -- dotnet app.dll)\n" +
        $"  DOTNET_STARTUP_HOOKS={AgentPath} <command>\n" +
        "  or add a PackageReference to the Crac package, which loads the agent by itself.";

    /// <summary>The agent assembly shipped beside this tool.</summary>
    public static string AgentPath => Path.Combine(AppContext.BaseDirectory, AgentAssemblyFile);

    public bool IsAlive => Exists(Pid);

    /// <summary>
    /// Whether the process is gone, or goes within <paramref name="grace"/>: the kernel closes a
    /// killed process's sockets before it becomes a zombie, so a channel that just closed may
    /// belong to a process still on its way out.
    /// </summary>
    public bool ExitsWithin(TimeSpan grace)
    {
        long deadline = Environment.TickCount64 + (long)grace.TotalMilliseconds;
        while (IsAlive)
        {
            if (Environment.TickCount64 >= deadline)
            {
                return false;
            }

            Thread.Sleep(5);
        }

        return true;
    }

    /// <summary>The process's temp directory as it sees it (in its mount namespace).</summary>
    public string TemporaryDirectory => TemporaryDirectoryOf(Pid);

    /// <summary>The pid the process knows itself by: its pid in its own pid namespace (a container's).</summary>
    public int NamespacePid => Procfs.ReadNamespacePid(Pid);

    /// <summary>
    /// The process's rendezvous directory: the path it sees (sent to it), and the same directory
    /// as this tool reaches it (through /proc/PID/root when the process is in a container).
    /// </summary>
    public (string Seen, string Reached) RendezvousDirectory()
    {
        string seen = Crac.Protocol.Rendezvous.PathFor(NamespacePid, TemporaryDirectory);
        return (seen, Procfs.PathSeenBy(Pid, seen));
    }

    /// <summary>A process's temp directory, as .NET's Path.GetTempPath() computes it there: its TMPDIR, else /tmp.</summary>
    private static string TemporaryDirectoryOf(int pid) =>
        Procfs.ReadEnvironmentVariable(pid, "TMPDIR") is { Length: > 0 } tmp ? tmp.TrimEnd('/') + "/" : "/tmp/";

    /// <summary>The process's uid (ours, when it cannot be read).</summary>
    public uint Uid => Procfs.ReadUid(Pid) ?? Libc.geteuid();

    /// <summary>Whether the process runs: a zombie (killed, not yet reaped by its parent) does not.</summary>
    public static bool Exists(int pid) =>
        (Libc.kill(pid, 0) == 0 || System.Runtime.InteropServices.Marshal.GetLastPInvokeError() == Libc.EPERM) && !Procfs.IsZombie(pid);

    public static ToolException PermissionDenied(int pid, string name)
    {
        string owner = Owner(pid);
        return new ToolException(ReturnCode.PermissionDenied,
            $"Permission denied: process {pid} ({name}) belongs to {owner}, and you are {Environment.UserName}. " +
            $"Run dotnet crac as that user (sudo -u {owner} ...) or as root (sudo).");
    }

    public static string ReadName(int pid) => NameFrom(Procfs.ReadCommandLine(pid));

    /// <summary>The application's name in a command line: for <c>dotnet app.dll</c>, <c>app</c>.</summary>
    public static string NameFrom(IReadOnlyList<string> arguments)
    {
        if (arguments.Count == 0)
        {
            return "?";
        }

        // For `dotnet app.dll` the application is the first .dll argument.
        string executable = Path.GetFileName(arguments[0]);
        string? assembly = arguments.Skip(1).FirstOrDefault(a => a.EndsWith(".dll", StringComparison.OrdinalIgnoreCase));
        return executable == "dotnet" && assembly is not null ? Path.GetFileNameWithoutExtension(assembly) : executable;
    }

    public static string ReadCommandLine(int pid) => string.Join(' ', Procfs.ReadCommandLine(pid));

    private static bool MatchesName(int pid, string name) =>
        string.Equals(ReadName(pid), name, StringComparison.Ordinal)
        || string.Equals(Procfs.ReadComm(pid), name, StringComparison.Ordinal);

    private static string Owner(int pid)
    {
        if (Procfs.ReadUid(pid) is not { } uid)
        {
            return "another user";
        }

        try
        {
            string? user = File.ReadLines("/etc/passwd")
                .Select(line => line.Split(':'))
                .FirstOrDefault(fields => fields.Length > 2 && fields[2] == uid.ToString(CultureInfo.InvariantCulture))?[0];
            return user ?? $"uid {uid}";
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            return $"uid {uid}";
        }
    }

    public override string ToString() => Pid.ToString(CultureInfo.InvariantCulture);
}
