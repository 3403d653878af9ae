namespace Crac.FileDescriptors;

/// <summary>What kind of object a file descriptor refers to.</summary>
internal enum FdKind
{
    File,
    Directory,
    Pipe,
    Fifo,
    UnixSocket,
    TcpSocket,
    UdpSocket,
    Socket,
    EventFd,
    EventPoll,
    Inotify,
    Memfd,
    SignalFd,
    TimerFd,
    PidFd,
    AnonInode,
    CharacterDevice,
    BlockDevice,
    Unknown,
}

internal enum FdLock
{
    None,
    Shared,
    Exclusive,
}

/// <summary>A socket's addresses, as getsockname/getpeername report them.</summary>
internal sealed record SocketEndpoint
{
    public required string Family { get; init; }

    public string? Type { get; init; }

    public string? LocalAddress { get; init; }

    public int? LocalPort { get; init; }

    public string? RemoteAddress { get; init; }

    public int? RemotePort { get; init; }

    public string? LocalPath { get; init; }

    public string? RemotePath { get; init; }

    public bool Listening { get; init; }

    public string Describe()
    {
        if (Family == "unix")
        {
            string local = string.IsNullOrEmpty(LocalPath) ? "(unnamed)" : LocalPath;
            return Listening ? $"unix {local} listening" : $"unix {local} -> {(string.IsNullOrEmpty(RemotePath) ? "(unnamed)" : RemotePath)}";
        }

        string protocol = Type == "dgram" ? "udp" : "tcp";
        string localText = $"{Bracket(LocalAddress)}:{LocalPort}";
        return Listening || RemoteAddress is null
            ? $"{protocol} {localText}{(Listening ? " listening" : string.Empty)}"
            : $"{protocol} {localText} -> {Bracket(RemoteAddress)}:{RemotePort}";
    }

    private static string? Bracket(string? address) => address is not null && address.Contains(':') ? $"[{address}]" : address;
}

/// <summary>One open file descriptor of this process, with what /proc and the socket calls say of it.</summary>
internal sealed record FdEntry
{
    public required int Fd { get; init; }

    public required FdKind Kind { get; init; }

    /// <summary>The /proc/self/fd link: a path, or e.g. <c>pipe:[8953321]</c>, <c>anon_inode:[eventpoll]</c>.</summary>
    public required string Target { get; init; }

    /// <summary>The open flags from fdinfo (O_ACCMODE, O_APPEND, O_CLOEXEC...).</summary>
    public required int Flags { get; init; }

    public required long Position { get; init; }

    public ulong Inode { get; init; }

    public SocketEndpoint? Socket { get; init; }

    /// <summary>Whether fdinfo lists a lock (flock or POSIX) held through this descriptor.</summary>
    public bool HasLock => Lock != FdLock.None;

    /// <summary>The flock held through this descriptor (a .NET FileStream takes one).</summary>
    public FdLock Lock { get; init; }

    public bool CloseOnExec => (Flags & Interop.Libc.O_CLOEXEC) != 0;

    /// <summary><c>r</c>, <c>w</c> or <c>rw</c>, with <c>+append</c> for O_APPEND.</summary>
    public string Mode
    {
        get
        {
            string access = (Flags & Interop.Libc.O_ACCMODE) switch
            {
                Interop.Libc.O_RDONLY => "r",
                Interop.Libc.O_WRONLY => "w",
                _ => "rw",
            };
            return (Flags & Interop.Libc.O_APPEND) != 0 ? access + "+append" : access;
        }
    }

    public bool IsReadOnly => (Flags & Interop.Libc.O_ACCMODE) == Interop.Libc.O_RDONLY;

    /// <summary>The path for files, directories and FIFOs; null for other kinds.</summary>
    public string? Path => Kind is FdKind.File or FdKind.Directory or FdKind.Fifo or FdKind.CharacterDevice or FdKind.BlockDevice
        ? Target.EndsWith(" (deleted)", StringComparison.Ordinal) ? Target[..^" (deleted)".Length] : Target
        : null;

    public string KindName => Kind switch
    {
        FdKind.File => "regular",
        FdKind.Directory => "directory",
        FdKind.Pipe => "pipe",
        FdKind.Fifo => "fifo",
        FdKind.UnixSocket => "unix socket",
        FdKind.TcpSocket => "tcp socket",
        FdKind.UdpSocket => "udp socket",
        FdKind.Socket => "socket",
        FdKind.EventFd => "eventfd",
        FdKind.EventPoll => "epoll",
        FdKind.Inotify => "inotify",
        FdKind.Memfd => "memfd",
        FdKind.SignalFd => "signalfd",
        FdKind.TimerFd => "timerfd",
        FdKind.PidFd => "pidfd",
        FdKind.AnonInode => "anon inode",
        FdKind.CharacterDevice => "character device",
        FdKind.BlockDevice => "block device",
        _ => "unknown",
    };
}
