using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;
using System.Text;
using Crac.Interop;

namespace Crac.FileDescriptors;

/// <summary>Lists this process's file descriptors from /proc/self/fd and fdinfo, and the socket calls.</summary>
internal static class FdScanner
{
    // One scan at a time: a scan reads each fd's fdinfo through an fd of its own, which a scan
    // running beside it (the agent's warm-up and a tool's `fds`, say) would list and judge as the
    // process's: a read-only file with a shared flock, which turned file-locks=auto on (seen).
    private static readonly Lock ScanLock = new();

    public static IReadOnlyList<FdEntry> Scan()
    {
        lock (ScanLock)
        {
            return ScanAlone();
        }
    }

    private static IReadOnlyList<FdEntry> ScanAlone()
    {
        string selfFdDirectory = $"/proc/{Environment.ProcessId}/fd";
        List<int> numbers = OpenNumbers();
        numbers.Sort();
        var entries = new List<FdEntry>(numbers.Count);
        foreach (int fd in numbers)
        {
            FdEntry? entry = Describe(fd);
            // The enumeration's own directory fd is gone by now, or still points at /proc/<pid>/fd.
            if (entry is not null && entry.Target != selfFdDirectory)
            {
                entries.Add(entry);
            }
        }

        return entries;
    }

    /// <summary>
    /// The numbers in /proc/self/fd, listed with readdir(3): .NET's enumeration stats every entry
    /// (each is a link, which might lead to a directory), which doubled a scan's time.
    /// </summary>
    private static unsafe List<int> OpenNumbers()
    {
        nint directory = Libc.opendir("/proc/self/fd");
        if (directory == 0)
        {
            throw new IOException($"Cannot list /proc/self/fd: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}.");
        }

        try
        {
            var numbers = new List<int>();
            byte* entry;
            while ((entry = Libc.readdir(directory)) != null)
            {
                if (int.TryParse(MemoryMarshal.CreateReadOnlySpanFromNullTerminated(entry + Libc.DirentNameOffset), NumberStyles.None, CultureInfo.InvariantCulture, out int fd))
                {
                    numbers.Add(fd);
                }
            }

            return numbers;
        }
        finally
        {
            Libc.closedir(directory);
        }
    }

    /// <summary>Describes one descriptor, or returns null if it was closed meanwhile.</summary>
    public static FdEntry? Describe(int fd)
    {
        string? target;
        try
        {
            target = new FileInfo($"/proc/self/fd/{fd}").LinkTarget;
        }
        catch (IOException)
        {
            return null;
        }

        if (target is null)
        {
            return null;
        }

        (int flags, long position, ulong inode, IReadOnlyList<FileLock> locks) = ReadFdInfo(fd);
        FdKind kind;
        SocketEndpoint? socket = null;
        Libc.StatX stat = default;
        if (target.StartsWith("socket:", StringComparison.Ordinal))
        {
            socket = DescribeSocket(fd);
            kind = socket?.Family switch
            {
                "unix" => FdKind.UnixSocket,
                "inet" or "inet6" => socket.Type switch
                {
                    "stream" => FdKind.TcpSocket,
                    "dgram" => FdKind.UdpSocket,
                    _ => FdKind.Socket,
                },
                _ => FdKind.Socket,
            };
            inode = BracketedNumber(target) ?? inode;
        }
        else if (target.StartsWith("pipe:", StringComparison.Ordinal))
        {
            kind = FdKind.Pipe;
            inode = BracketedNumber(target) ?? inode;
        }
        else if (target.StartsWith("anon_inode:", StringComparison.Ordinal))
        {
            kind = target switch
            {
                "anon_inode:[eventpoll]" => FdKind.EventPoll,
                "anon_inode:inotify" => FdKind.Inotify,
                "anon_inode:[eventfd]" => FdKind.EventFd,
                "anon_inode:[signalfd]" => FdKind.SignalFd,
                "anon_inode:[timerfd]" => FdKind.TimerFd,
                "anon_inode:[pidfd]" => FdKind.PidFd,
                "anon_inode:[fanotify]" => FdKind.Fanotify,
                _ => FdKind.AnonInode,
            };
        }
        else if (target.StartsWith("/memfd:", StringComparison.Ordinal))
        {
            kind = FdKind.Memfd;
        }
        else if (Libc.statx(Libc.AT_FDCWD, $"/proc/self/fd/{fd}", 0, Libc.STATX_BASIC_STATS, out stat) == 0)
        {
            inode = stat.Inode;
            kind = (stat.Mode & Libc.S_IFMT) switch
            {
                Libc.S_IFREG => FdKind.File,
                Libc.S_IFDIR => FdKind.Directory,
                Libc.S_IFIFO => FdKind.Fifo,
                Libc.S_IFCHR => FdKind.CharacterDevice,
                Libc.S_IFBLK => FdKind.BlockDevice,
                _ => FdKind.Unknown,
            };
        }
        else
        {
            kind = FdKind.Unknown;
        }

        return new FdEntry
        {
            Fd = fd,
            Kind = kind,
            Target = target,
            Flags = flags,
            Position = position,
            Inode = inode,
            Socket = socket,
            Locks = locks,
            LinkCount = stat.LinkCount,
            Size = (long)stat.Size,
            DeviceMajor = stat.RdevMajor,
            DeviceMinor = stat.RdevMinor,
        };
    }

    private static (int Flags, long Position, ulong Inode, IReadOnlyList<FileLock> Locks) ReadFdInfo(int fd)
    {
        int flags = 0;
        long position = 0;
        ulong inode = 0;
        List<FileLock>? locks = null;
        foreach (ReadOnlySpan<char> line in ReadFdInfoText(fd).AsSpan().EnumerateLines())
        {
            int colon = line.IndexOf(':');
            if (colon < 0)
            {
                continue;
            }

            ReadOnlySpan<char> value = line[(colon + 1)..].Trim();
            switch (line[..colon])
            {
                case "pos":
                    long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out position);
                    break;
                case "flags":
                    flags = Convert.ToInt32(value.ToString(), 8);
                    break;
                case "ino":
                    ulong.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out inode);
                    break;
                case "lock":
                    (locks ??= []).Add(FileLock.Parse(value.ToString()));
                    break;
            }
        }

        return (flags, position, inode, (IReadOnlyList<FileLock>?)locks ?? []);
    }

    /// <summary>
    /// A descriptor's fdinfo, empty when it was closed meanwhile. Read with open(2) and read(2):
    /// a scan reads one per fd, and a .NET file stream costs twice the time (it also takes a
    /// shared flock on what it opens).
    /// </summary>
    private static unsafe string ReadFdInfoText(int fd)
    {
        int file = Libc.open($"/proc/self/fdinfo/{fd}", Libc.O_RDONLY | Libc.O_CLOEXEC, 0);
        if (file < 0)
        {
            return string.Empty;
        }

        // An epoll's or inotify's fdinfo lists every watched fd: a page is most, not all.
        byte[] buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(4096);
        try
        {
            int length = 0;
            while (true)
            {
                if (length == buffer.Length)
                {
                    byte[] larger = System.Buffers.ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                    buffer.AsSpan(0, length).CopyTo(larger);
                    System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
                    buffer = larger;
                }

                nint read;
                fixed (byte* free = &buffer[length])
                {
                    read = Libc.read(file, free, (nuint)(buffer.Length - length));
                }

                if (read <= 0)
                {
                    break;
                }

                length += (int)read;
            }

            return Encoding.ASCII.GetString(buffer, 0, length);
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
            Libc.close(file);
        }
    }

    private static unsafe SocketEndpoint? DescribeSocket(int fd)
    {
        int domain = 0, type = 0, accepting = 0;
        int length = sizeof(int);
        if (Libc.getsockopt(fd, Libc.SOL_SOCKET, Libc.SO_DOMAIN, &domain, &length) != 0)
        {
            return null;
        }

        length = sizeof(int);
        Libc.getsockopt(fd, Libc.SOL_SOCKET, Libc.SO_TYPE, &type, &length);
        length = sizeof(int);
        Libc.getsockopt(fd, Libc.SOL_SOCKET, Libc.SO_ACCEPTCONN, &accepting, &length);

        byte* local = stackalloc byte[128];
        byte* remote = stackalloc byte[128];
        int localLength = 128, remoteLength = 128;
        bool hasLocal = Libc.getsockname(fd, local, &localLength) == 0;
        bool hasRemote = Libc.getpeername(fd, remote, &remoteLength) == 0;
        var localAddress = hasLocal ? new ReadOnlySpan<byte>(local, Math.Min(localLength, 128)) : default;
        var remoteAddress = hasRemote ? new ReadOnlySpan<byte>(remote, Math.Min(remoteLength, 128)) : default;

        string typeName = type switch
        {
            Libc.SOCK_STREAM => "stream",
            Libc.SOCK_DGRAM => "dgram",
            Libc.SOCK_SEQPACKET => "seqpacket",
            Libc.SOCK_RAW => "raw",
            _ => type.ToString(CultureInfo.InvariantCulture),
        };
        switch (domain)
        {
            case Libc.AF_UNIX:
                return new SocketEndpoint
                {
                    Family = "unix",
                    Type = typeName,
                    LocalPath = hasLocal ? UnixPath(localAddress) : null,
                    RemotePath = hasRemote ? UnixPath(remoteAddress) : null,
                    Listening = accepting != 0,
                    PeerPid = PeerPid(fd),
                };
            case Libc.AF_INET or Libc.AF_INET6:
                (string? localIp, int? localPort) = hasLocal ? InetAddress(localAddress) : (null, null);
                (string? remoteIp, int? remotePort) = hasRemote ? InetAddress(remoteAddress) : (null, null);
                (TcpState? state, int? backlog) = type == Libc.SOCK_STREAM ? TcpInfo(fd) : (null, null);
                return new SocketEndpoint
                {
                    Family = domain == Libc.AF_INET ? "inet" : "inet6",
                    Type = typeName,
                    LocalAddress = localIp,
                    LocalPort = localPort,
                    RemoteAddress = remoteIp,
                    RemotePort = remotePort,
                    Listening = accepting != 0,
                    TcpState = state,
                    Backlog = backlog,
                };
            default:
                return new SocketEndpoint { Family = FamilyName(domain), Type = typeName, Listening = accepting != 0 };
        }
    }

    private static string FamilyName(int domain) => domain switch
    {
        Libc.AF_NETLINK => "netlink",
        Libc.AF_PACKET => "packet",
        _ => domain.ToString(CultureInfo.InvariantCulture),
    };

    /// <summary>The state of a TCP socket, and for a listener the connections waiting in its accept backlog (TCP_INFO).</summary>
    private static unsafe (TcpState? State, int? Backlog) TcpInfo(int fd)
    {
        // struct tcp_info: u8 tcpi_state at 0; for a listener, tcpi_unacked (u32 at 24) is the accept backlog's length.
        byte* info = stackalloc byte[104];
        int length = 104;
        if (Libc.getsockopt(fd, Libc.IPPROTO_TCP, Libc.TCP_INFO, (int*)info, &length) != 0 || length < 28)
        {
            return (null, null);
        }

        var state = (TcpState)info[0];
        return (state, state == TcpState.Listen ? *(int*)(info + 24) : null);
    }

    /// <summary>The process at the other end of a connected unix socket (SO_PEERCRED), if the kernel knows it.</summary>
    private static unsafe int? PeerPid(int fd)
    {
        int* credentials = stackalloc int[3];
        int length = 3 * sizeof(int);
        return Libc.getsockopt(fd, Libc.SOL_SOCKET, Libc.SO_PEERCRED, credentials, &length) == 0 && credentials[0] > 0 ? credentials[0] : null;
    }

    private static string UnixPath(ReadOnlySpan<byte> address)
    {
        if (address.Length <= 2)
        {
            return string.Empty;
        }

        ReadOnlySpan<byte> path = address[2..];
        if (path[0] == 0)
        {
            return "@" + Encoding.UTF8.GetString(path[1..]).TrimEnd('\0');
        }

        int end = path.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? path : path[..end]);
    }

    private static (string? Address, int? Port) InetAddress(ReadOnlySpan<byte> address)
    {
        ushort family = BitConverter.ToUInt16(address[..2]);
        int port = BinaryPrimitives.ReadUInt16BigEndian(address[2..4]);
        if (family == Libc.AF_INET && address.Length >= 8)
        {
            return (new IPAddress(address[4..8]).ToString(), port);
        }

        if (family == Libc.AF_INET6 && address.Length >= 24)
        {
            var ip = new IPAddress(address[8..24]);
            return ((ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip).ToString(), port);
        }

        return (null, null);
    }

    private static ulong? BracketedNumber(string target)
    {
        int open = target.IndexOf('[');
        int close = target.IndexOf(']');
        return open >= 0 && close > open && ulong.TryParse(target.AsSpan(open + 1, close - open - 1), NumberStyles.None, CultureInfo.InvariantCulture, out ulong value)
            ? value
            : null;
    }
}
