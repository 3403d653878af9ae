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

    /// <summary>The live processes, other than this one, with a diagnostics socket in this user's temp directory.</summary>
    /// <remarks>
    /// Not DiagnosticsClient.GetPublishedProcesses: it also walks /proc for other mount namespaces
    /// and throws when a kernel thread's environ cannot be read (ESRCH for /proc/2/environ here).
    /// A killed process leaves its socket file behind, and its pid may since be another process's
    /// (a socket made in another pid namespace never named ours). So a pid counts only while a
    /// socket is listening on that path, held by that process where its fds can be read. The key
    /// in the name cannot tell: it is the start time, and a restored process started anew.
    /// </remarks>
    public static IEnumerable<int> PublishedProcesses() => Published("*");

    /// <summary>Whether this one process has a live diagnostics socket, without examining every other's.</summary>
    private static bool IsPublished(int pid) => Published(pid.ToString(CultureInfo.InvariantCulture)).Count > 0;

    private static SortedSet<int> Published(string pidPattern)
    {
        var pids = new SortedSet<int>();
        Dictionary<string, string> listeners = ReadUnixListeners();
        foreach (string socket in Directory.EnumerateFiles(Path.GetTempPath(), $"dotnet-diagnostic-{pidPattern}-*-socket"))
        {
            // dotnet-diagnostic-{pid}-{disambiguation key}-socket
            string[] parts = Path.GetFileName(socket).Split('-');
            if (parts.Length == 5
                && int.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out int pid)
                && pid != Environment.ProcessId
                && listeners.TryGetValue(socket, out string? inode)
                && IsLive(pid)
                && HoldsSocket(pid, inode) != false)
            {
                pids.Add(pid);
            }
        }

        return pids;
    }

    /// <summary>Bound, listening unix sockets by path, with their inodes (/proc/net/unix).</summary>
    private static Dictionary<string, string> ReadUnixListeners()
    {
        const int AcceptConnections = 0x10000; // __SO_ACCEPTCON in the Flags column
        var listeners = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string line in File.ReadLines("/proc/net/unix").Skip(1))
        {
            // Num RefCount Protocol Flags Type St Inode Path
            string[] columns = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (columns.Length >= 8
                && int.TryParse(columns[3], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int flags)
                && (flags & AcceptConnections) != 0)
            {
                listeners[columns[7]] = columns[6];
            }
        }

        return listeners;
    }

    /// <summary>Whether the process exists and is neither a zombie nor exiting.</summary>
    public static bool IsLive(int pid) => ProcStat.Read(pid) is { IsDead: false };

    /// <summary>Whether the process has the socket open; null when its fds cannot be read (another user's).</summary>
    private static bool? HoldsSocket(int pid, string inode)
    {
        string target = $"socket:[{inode}]";
        try
        {
            return Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd").Any(fd => new FileInfo(fd).LinkTarget == target);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

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
                $"Process {pid} ({name}) is not a .NET process: it has no diagnostics socket (dotnet-diagnostic-{pid}-*-socket in its TMPDIR). " +
                "If it is .NET, it was started with DOTNET_EnableDiagnostics=0, or with another TMPDIR than this shell's.");
        }

        return new TargetProcess(pid, name);
    }

    /// <summary>
    /// Whether the agent assembly is mapped into the process, from /proc/PID/maps: an answer
    /// without opening a session. Null when the maps cannot be read (another user's process).
    /// </summary>
    public bool? HasAgent()
    {
        try
        {
            foreach (string line in File.ReadLines($"/proc/{Pid}/maps"))
            {
                // " (deleted)" when the agent's file was replaced since (an upgraded tool).
                if (line.EndsWith("/" + AgentAssemblyFile, StringComparison.Ordinal) || line.EndsWith("/" + AgentAssemblyFile + " (deleted)", StringComparison.Ordinal))
                {
                    return true;
                }
            }

            return false;
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

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

    public static bool Exists(int pid) =>
        Libc.kill(pid, 0) == 0 || System.Runtime.InteropServices.Marshal.GetLastPInvokeError() == Libc.EPERM;

    public static ToolException PermissionDenied(int pid, string name)
    {
        string owner = Owner(pid);
        return new ToolException(ReturnCode.PermissionDenied,
            $"Permission denied: process {pid} ({name}) belongs to {owner}, and you are {Environment.UserName}. " +
            $"Run dotnet crac as that user (sudo -u {owner} ...) or as root (sudo).");
    }

    public static string ReadName(int pid)
    {
        try
        {
            string[] arguments = File.ReadAllText($"/proc/{pid}/cmdline").TrimEnd('\0').Split('\0');
            string executable = Path.GetFileName(arguments[0]);
            // For `dotnet app.dll` the application is the first .dll argument.
            string? assembly = arguments.Skip(1).FirstOrDefault(a => a.EndsWith(".dll", StringComparison.OrdinalIgnoreCase));
            return executable == "dotnet" && assembly is not null ? Path.GetFileNameWithoutExtension(assembly) : executable;
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            return "?";
        }
    }

    public static string ReadCommandLine(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").TrimEnd('\0').Replace('\0', ' ');
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            return string.Empty;
        }
    }

    private static bool MatchesName(int pid, string name) =>
        string.Equals(ReadName(pid), name, StringComparison.Ordinal)
        || string.Equals(ReadComm(pid), name, StringComparison.Ordinal);

    private static string ReadComm(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/comm").Trim();
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            return string.Empty;
        }
    }

    private static string Owner(int pid)
    {
        try
        {
            string? uidLine = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("Uid:", StringComparison.Ordinal));
            string uid = uidLine?.Split('\t', StringSplitOptions.RemoveEmptyEntries)[1] ?? "?";
            string? user = File.ReadLines("/etc/passwd")
                .Select(l => l.Split(':'))
                .FirstOrDefault(f => f.Length > 2 && f[2] == uid)?[0];
            return user is null ? $"uid {uid}" : user;
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            return "another user";
        }
    }

    public override string ToString() => Pid.ToString(CultureInfo.InvariantCulture);
}
