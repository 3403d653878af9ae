using System.Globalization;

namespace Crac.Interop;

/// <summary>
/// Every /proc file dotnet-crac reads about a process other than its own fd table (that is
/// FdScanner's), each read here and nowhere else. A file that cannot be read (the process is gone,
/// or belongs to another user) gives null or an empty answer rather than an exception.
/// </summary>
internal static class Procfs
{
    /// <summary>The argument vector from /proc/PID/cmdline; empty when it cannot be read.</summary>
    public static IReadOnlyList<string> ReadCommandLine(int pid)
    {
        string? text = ReadText($"/proc/{pid}/cmdline");
        return string.IsNullOrEmpty(text) ? [] : text.TrimEnd('\0').Split('\0');
    }

    /// <summary>One variable of the process's initial environment (/proc/PID/environ), or null when unset or unreadable.</summary>
    public static string? ReadEnvironmentVariable(int pid, string name)
    {
        string? text = ReadText($"/proc/{pid}/environ");
        string prefix = name + "=";
        return text?.Split('\0').FirstOrDefault(entry => entry.StartsWith(prefix, StringComparison.Ordinal))?[prefix.Length..];
    }

    /// <summary>The kernel's short name of the process (/proc/PID/comm).</summary>
    public static string? ReadComm(int pid) => ReadText($"/proc/{pid}/comm")?.Trim();

    /// <summary>The real uid of the process (/proc/PID/status), or null.</summary>
    public static uint? ReadUid(int pid) =>
        ReadStatusField(pid, "Uid:") is { } field && uint.TryParse(field.Split('\t', ' ', StringSplitOptions.RemoveEmptyEntries)[0], NumberStyles.None, CultureInfo.InvariantCulture, out uint uid)
            ? uid
            : null;

    /// <summary>The effective capability mask of this process (/proc/self/status CapEff).</summary>
    public static ulong ReadEffectiveCapabilities() =>
        ReadStatusField(Environment.ProcessId, "CapEff:") is { } field && ulong.TryParse(field.Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out ulong mask)
            ? mask
            : 0;

    /// <summary>Where an fd of a process points (the /proc/PID/fd/N link), or null.</summary>
    public static string? ReadFdTarget(int pid, int fd) => ReadLink($"/proc/{pid}/fd/{fd}");

    /// <summary>The process's children, grandchildren and so on (/proc/PID/task/*/children).</summary>
    public static IReadOnlyList<int> ReadDescendants(int pid)
    {
        var descendants = new List<int>();
        var pending = new Queue<int>([pid]);
        while (pending.Count > 0 && descendants.Count < 10_000)
        {
            int parent = pending.Dequeue();
            try
            {
                foreach (string task in Directory.EnumerateDirectories($"/proc/{parent}/task"))
                {
                    foreach (string child in (ReadText(Path.Combine(task, "children")) ?? string.Empty).Split(' ', StringSplitOptions.RemoveEmptyEntries))
                    {
                        if (int.TryParse(child, NumberStyles.None, CultureInfo.InvariantCulture, out int childPid))
                        {
                            descendants.Add(childPid);
                            pending.Enqueue(childPid);
                        }
                    }
                }
            }
            catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
            {
                // The process went away meanwhile.
            }
        }

        return descendants;
    }

    /// <summary>Where every fd of a process points (the /proc/PID/fd links); empty when they cannot be read.</summary>
    public static IReadOnlyList<string> ReadFdTargets(int pid)
    {
        try
        {
            return [.. Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd").Select(fd => new FileInfo(fd).LinkTarget).OfType<string>()];
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    /// <summary>The inodes of every socket the process holds, or null when its fds cannot be read.</summary>
    public static HashSet<ulong>? ReadSocketInodes(int pid) => ReadSocketDescriptors(pid)?.Keys.ToHashSet();

    /// <summary>Every socket the process holds, by inode, with one fd that holds it; null when its fds cannot be read.</summary>
    public static Dictionary<ulong, int>? ReadSocketDescriptors(int pid)
    {
        try
        {
            var sockets = new Dictionary<ulong, int>();
            foreach (string fd in Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd"))
            {
                string? target = new FileInfo(fd).LinkTarget;
                if (target is not null && target.StartsWith("socket:[", StringComparison.Ordinal)
                    && ulong.TryParse(target.AsSpan(8, target.Length - 9), NumberStyles.None, CultureInfo.InvariantCulture, out ulong inode)
                    && int.TryParse(Path.GetFileName(fd), NumberStyles.None, CultureInfo.InvariantCulture, out int number))
                {
                    sockets.TryAdd(inode, number);
                }
            }

            return sockets;
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>
    /// The unix sockets of a network namespace: /proc/net/unix, or that of the namespace a
    /// process is in (/proc/PID/net/unix).
    /// </summary>
    public static IReadOnlyList<UnixSocketEntry> ReadUnixSockets(int? pid = null)
    {
        var sockets = new List<UnixSocketEntry>();
        try
        {
            // Num RefCount Protocol Flags Type St Inode Path
            foreach (string line in File.ReadLines(pid is null ? "/proc/net/unix" : $"/proc/{pid}/net/unix").Skip(1))
            {
                string[] columns = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (columns.Length >= 7
                    && int.TryParse(columns[3], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int flags)
                    && int.TryParse(columns[4], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int type)
                    && int.TryParse(columns[5], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int state)
                    && ulong.TryParse(columns[6], NumberStyles.None, CultureInfo.InvariantCulture, out ulong inode))
                {
                    sockets.Add(new UnixSocketEntry(inode, flags, type, state, columns.Length >= 8 ? columns[7] : null));
                }
            }
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            // The process is gone or not ours: no sockets to report.
        }

        return sockets;
    }

    /// <summary>The shared libraries and files mapped into the process (/proc/PID/maps paths), or null.</summary>
    public static IEnumerable<string>? ReadMappedPaths(int pid)
    {
        try
        {
            return File.ReadAllLines($"/proc/{pid}/maps")
                .Select(line => line.IndexOf('/') is var slash and >= 0 ? line[slash..] : null)
                .OfType<string>()
                .Distinct(StringComparer.Ordinal)
                .ToArray();
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>This process's time namespace (/proc/self/ns/time); CRIU restores into a new one.</summary>
    public static string? ReadTimeNamespace() => ReadLink("/proc/self/ns/time");

    /// <summary>This process's cgroup v2 directory under /sys/fs/cgroup, or null on cgroup v1.</summary>
    public static string? ReadCgroupDirectory()
    {
        // cgroup v2: a single "0::/path" line.
        string? line = ReadText("/proc/self/cgroup")?.Split('\n').FirstOrDefault(l => l.StartsWith("0::", StringComparison.Ordinal));
        return line is null ? null : Path.Join("/sys/fs/cgroup", line[3..]);
    }

    /// <summary>The CPU's feature flags (/proc/cpuinfo "flags", or "Features" on arm64).</summary>
    public static ISet<string> ReadCpuFlags()
    {
        var flags = new HashSet<string>(StringComparer.Ordinal);
        foreach (string line in File.ReadLines("/proc/cpuinfo"))
        {
            if (line.StartsWith("flags", StringComparison.Ordinal) || line.StartsWith("Features", StringComparison.Ordinal))
            {
                flags.UnionWith(line[(line.IndexOf(':') + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries));
                break;
            }
        }

        return flags;
    }

    /// <summary>
    /// The process's pid in its own pid namespace (the last NSpid of /proc/PID/status): the pid it
    /// knows itself by and names its diagnostics socket and rendezvous with. It is
    /// <paramref name="pid"/> itself when the process shares our pid namespace (or NSpid cannot be read).
    /// </summary>
    public static int ReadNamespacePid(int pid) =>
        ReadStatusField(pid, "NSpid:") is { } field
        && field.Split('\t', ' ', StringSplitOptions.RemoveEmptyEntries) is [.., var last]
        && int.TryParse(last, NumberStyles.None, CultureInfo.InvariantCulture, out int namespacePid)
            ? namespacePid
            : pid;

    /// <summary>
    /// Whether the process is in another namespace of this kind ("mnt", "pid") than this one, from
    /// the /proc/PID/ns links; false when they cannot be read (another user's process).
    /// </summary>
    public static bool HasOtherNamespace(int pid, string kind) =>
        ReadLink($"/proc/{pid}/ns/{kind}") is { } theirs && ReadLink($"/proc/self/ns/{kind}") is { } ours && theirs != ours;

    /// <summary>
    /// Whether a path the process sees is on its root mount and that root is ours (/proc/PID/root
    /// reads "/"): a mount namespace of its own made by copying ours (unshare), where the path is
    /// not under a mount of its own (a tmpfs /tmp, which CRIU would restore as a copy).
    /// </summary>
    public static bool SeesOnOurRoot(int pid, string path)
    {
        return ReadLink($"/proc/{pid}/root") == "/" && ReadText($"/proc/{pid}/mountinfo") is { } mountInfo && MountOf(mountInfo, path)?.MountPoint == "/";
    }

    /// <summary>The file-system type ("tmpfs", "ext4") of the mount this process sees <paramref name="path"/> on; null when /proc cannot tell.</summary>
    public static string? FileSystemTypeOf(string path) =>
        ReadText("/proc/self/mountinfo") is { } mountInfo ? MountOf(mountInfo, path)?.FileSystemType : null;

    /// <summary>
    /// The mount a path is on, from a mountinfo text: the deepest mount point over it (the last
    /// one listed wins a tie, as the later mount hides the earlier), and its file-system type.
    /// </summary>
    internal static (string MountPoint, string FileSystemType)? MountOf(string mountInfo, string path)
    {
        (string MountPoint, string FileSystemType)? deepest = null;
        foreach (string line in mountInfo.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            // Field 5 is the mount point (octal escapes for spaces are irrelevant to a prefix of ours);
            // the type is the first field after the " - " that ends the optional fields.
            string[] fields = line.Split(' ');
            int separator = Array.IndexOf(fields, "-");
            if (fields.Length <= 4 || separator < 5 || separator + 1 >= fields.Length)
            {
                continue;
            }

            string mountPoint = fields[4];
            bool covers = mountPoint == "/" || path == mountPoint || path.StartsWith(mountPoint + "/", StringComparison.Ordinal);
            if (covers && mountPoint.Length >= (deepest?.MountPoint.Length ?? 0))
            {
                deepest = (mountPoint, fields[separator + 1]);
            }
        }

        return deepest;
    }

    /// <summary>
    /// A path as the process sees it, reached from here: through /proc/PID/root when the process
    /// is in another mount namespace (a container, a sidecar's neighbour), else the path itself.
    /// </summary>
    public static string PathSeenBy(int pid, string path) =>
        HasOtherNamespace(pid, "mnt") ? $"/proc/{pid}/root{(path.StartsWith('/') ? path : "/" + path)}" : path;

    /// <summary>Every process id /proc lists now.</summary>
    public static IEnumerable<int> ListProcessIds()
    {
        foreach (string entry in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(entry), NumberStyles.None, CultureInfo.InvariantCulture, out int pid))
            {
                yield return pid;
            }
        }
    }

    /// <summary>Whether the process has ended and waits to be reaped (state Z, or X while it goes).</summary>
    public static bool IsZombie(int pid) => ReadStatusField(pid, "State:") is ['Z' or 'X', ..];

    /// <summary>Whether /proc/PID exists at all (a zombie included).</summary>
    public static bool HasEntry(int pid) => Directory.Exists($"/proc/{pid}");

    /// <summary>Whether the process of the container's init (pid 1) names a container runtime in its cgroup.</summary>
    public static bool InitCgroupMentions(string word) =>
        ReadText("/proc/1/cgroup")?.Contains(word, StringComparison.Ordinal) == true;

    private static string? ReadStatusField(int pid, string name) =>
        ReadText($"/proc/{pid}/status")?.Split('\n').FirstOrDefault(l => l.StartsWith(name, StringComparison.Ordinal))?[name.Length..].Trim();

    private static string? ReadLink(string path)
    {
        try
        {
            return new FileInfo(path).LinkTarget;
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>A /proc/meminfo field (MemTotal, SwapTotal, CommitLimit...) in bytes, or null.</summary>
    public static long? ReadMemInfoBytes(string field) =>
        ReadText("/proc/meminfo")?.Split('\n').FirstOrDefault(line => line.StartsWith(field + ":", StringComparison.Ordinal)) is { } line
        && long.TryParse(line[(field.Length + 1)..].Replace("kB", string.Empty, StringComparison.Ordinal).Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out long kilobytes)
            ? kilobytes * 1024
            : null;

    /// <summary>vm.overcommit_memory: 0 heuristic, 1 always, 2 strict; null when unreadable.</summary>
    public static int? ReadOvercommitMode() =>
        int.TryParse(ReadText("/proc/sys/vm/overcommit_memory")?.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out int mode) ? mode : null;

    private static string? ReadText(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
