using System.Globalization;

namespace Crac.Interop;

/// <summary>
/// The runtime's diagnostics socket, <c>$TMPDIR/dotnet-diagnostic-{pid}-{key}-socket</c>: the
/// listener every .NET process opens, and dotnet-crac's channel to the agent. Its name is known
/// here and nowhere else.
/// </summary>
internal static class DiagnosticsSocket
{
    private const string Prefix = "dotnet-diagnostic-";
    private const string Suffix = "-socket";

    /// <summary>The file-name pattern of a process's sockets, or of every process's when <paramref name="pid"/> is null.</summary>
    public static string SearchPattern(int? pid) =>
        $"{Prefix}{pid?.ToString(CultureInfo.InvariantCulture) ?? "*"}-*{Suffix}";

    /// <summary>The pid a socket's file name names: dotnet-diagnostic-{pid}-{disambiguation key}-socket.</summary>
    public static bool TryParsePid(string path, out int pid)
    {
        string[] parts = Path.GetFileName(path).Split('-');
        pid = 0;
        return parts.Length == 5 && path.EndsWith(Suffix, StringComparison.Ordinal)
            && int.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out pid);
    }

    /// <summary>Whether a unix socket path is a diagnostics socket of the process <paramref name="pid"/>.</summary>
    public static bool BelongsTo(string? path, int pid) =>
        path is not null && Path.GetFileName(path).StartsWith($"{Prefix}{pid.ToString(CultureInfo.InvariantCulture)}-", StringComparison.Ordinal);

    /// <summary>
    /// The diagnostics sessions open in a process now: its connected unix sockets on its
    /// diagnostics path whose client is still there. CRIU cannot dump a process with one
    /// ("External socket is used"). A connection whose client has hung up (a tool that sent its
    /// stop and closed, while the runtime still finishes the session) CRIU dumps, and restores
    /// closed, so it does not count, where it can be told (<see cref="ForeignSocket.PeerHasHungUp"/>).
    /// </summary>
    public static int CountSessions(int pid) => ConnectedDescriptors(pid).Count(fd => ForeignSocket.PeerHasHungUp(pid, fd) != true);

    /// <summary>Every connection the process's runtime still holds on its diagnostics path, whether or not its client is still there.</summary>
    public static int CountConnections(int pid) => ConnectedDescriptors(pid).Count();

    /// <summary>The fds of the process's connected unix sockets on its diagnostics path.</summary>
    private static IEnumerable<int> ConnectedDescriptors(int pid)
    {
        Dictionary<ulong, int>? held = Procfs.ReadSocketDescriptors(pid);
        if (held is null)
        {
            return [];
        }

        int ownPid = Procfs.ReadNamespacePid(pid);   // a process in a container names its socket by its pid there
        return Procfs.ReadUnixSockets(pid)
            .Where(socket => socket.IsConnected && BelongsTo(socket.Path, ownPid) && held.ContainsKey(socket.Inode))
            .Select(socket => held[socket.Inode])
            .ToList();
    }

    /// <summary>
    /// Waits, up to <paramref name="timeout"/>, until the process has no diagnostics session open:
    /// the clients that are closing (the tool's own last session) get a moment.
    /// </summary>
    public static bool WaitForSessionsToClose(int pid, TimeSpan timeout)
    {
        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        while (CountSessions(pid) > 0)
        {
            if (stopwatch.Elapsed >= timeout)
            {
                return false;
            }

            Thread.Sleep(10);
        }

        return true;
    }
}
