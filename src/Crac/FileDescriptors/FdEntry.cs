using Crac.Diagnostics;
using Crac.Interop;

namespace Crac.FileDescriptors;

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

    /// <summary>The locks fdinfo lists for this descriptor (a .NET FileStream takes a flock).</summary>
    public IReadOnlyList<FileLock> Locks { get; init; } = [];

    public bool HasLock => Locks.Count > 0;

    /// <summary>For a file: its hard links; 0 when it was deleted while open.</summary>
    public uint LinkCount { get; init; }

    /// <summary>For a file: its size in bytes.</summary>
    public long Size { get; init; }

    /// <summary>For a device: its major and minor numbers.</summary>
    public uint DeviceMajor { get; init; }

    public uint DeviceMinor { get; init; }

    public bool IsDeleted => Kind == FdKind.File && LinkCount == 0;

    public bool CloseOnExec => (Flags & Libc.O_CLOEXEC) != 0;

    /// <summary><c>r</c>, <c>w</c> or <c>rw</c>, with <c>+append</c> for O_APPEND.</summary>
    public string Mode
    {
        get
        {
            string access = (Flags & Libc.O_ACCMODE) switch
            {
                Libc.O_RDONLY => "r",
                Libc.O_WRONLY => "w",
                _ => "rw",
            };
            return (Flags & Libc.O_APPEND) != 0 ? access + "+append" : access;
        }
    }

    public bool IsReadOnly => (Flags & Libc.O_ACCMODE) == Libc.O_RDONLY;

    /// <summary>The path for files, directories and FIFOs; null for other kinds.</summary>
    public string? Path => Kind is FdKind.File or FdKind.Directory or FdKind.Fifo or FdKind.CharacterDevice or FdKind.BlockDevice
        ? Target.EndsWith(" (deleted)", StringComparison.Ordinal) ? Target[..^" (deleted)".Length] : Target
        : null;

    /// <summary>The kind as `fds` and the exceptions name it.</summary>
    public string KindName => WireNames.Of(Kind);
}
