using System.Runtime.InteropServices;

namespace Crac.Interop;

/// <summary>The few libc calls the BCL does not expose: ids, file ownership and raw fds.</summary>
internal static partial class Libc
{
    private const string Library = "libc";

    public const int AT_FDCWD = -100;
    public const int AT_SYMLINK_NOFOLLOW = 0x100;
    public const int AT_EMPTY_PATH = 0x1000;
    public const uint STATX_BASIC_STATS = 0x7ff;

    public const int F_GETFD = 1;
    public const int F_GETFL = 3;
    public const int F_DUPFD_CLOEXEC = 1030;
    public const int FD_CLOEXEC = 1;

    public const int O_RDONLY = 0;
    public const int O_WRONLY = 1;
    public const int O_RDWR = 2;
    public const int O_ACCMODE = 3;
    public const int O_CREAT = 0x40;
    public const int O_EXCL = 0x80;
    public const int O_TRUNC = 0x200;
    public const int O_APPEND = 0x400;
    public const int O_CLOEXEC = 0x80000;
    public const int O_NONBLOCK = 0x800;
    public const int O_PATH = 0x200000;

    // The file-type bits of st_mode (stat(2)).
    public const uint S_IFMT = 0xF000;
    public const uint S_IFSOCK = 0xC000;
    public const uint S_IFLNK = 0xA000;
    public const uint S_IFREG = 0x8000;
    public const uint S_IFBLK = 0x6000;
    public const uint S_IFDIR = 0x4000;
    public const uint S_IFCHR = 0x2000;
    public const uint S_IFIFO = 0x1000;

    public const int SEEK_SET = 0;

    public const int SIGHUP = 1;
    public const int SIGINT = 2;
    public const int SIGTERM = 15;
    public const int SIGKILL = 9;

    public const int ESRCH = 3;
    public const int EPERM = 1;

    [LibraryImport(Library, SetLastError = true)]
    public static partial uint geteuid();

    [LibraryImport(Library, SetLastError = true)]
    public static partial int getpid();

    public const int PR_SET_CHILD_SUBREAPER = 36;
    public const int EINTR = 4;

    [LibraryImport(Library, SetLastError = true)]
    public static partial int prctl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);

    [LibraryImport(Library, SetLastError = true)]
    public static partial int waitpid(int pid, out int status, int options);

    /// <summary>
    /// Waits for a child (an adopted one too) to end and returns its exit code, or 128 + the
    /// signal that killed it, as a shell reports it; -1 when it is no child of ours.
    /// </summary>
    public static int WaitForExitCode(int pid)
    {
        int result;
        int status;
        while ((result = waitpid(pid, out status, 0)) < 0 && Marshal.GetLastPInvokeError() == EINTR)
        {
        }

        return result < 0 ? -1 : (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f);
    }

    /// <summary>The session id as this process's pid namespace sees it: 0 when the session leader is outside it.</summary>
    [LibraryImport(Library, SetLastError = true)]
    public static partial int getsid(int pid);

    [LibraryImport(Library, SetLastError = true)]
    public static partial int kill(int pid, int signal);

    [LibraryImport(Library, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int statx(int dirfd, string path, int flags, uint mask, out StatX buffer);

    [LibraryImport(Library, SetLastError = true)]
    public static partial int fcntl(int fd, int command);

    [LibraryImport(Library, SetLastError = true)]
    public static partial int fcntl(int fd, int command, int argument);

    [LibraryImport(Library, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int open(string path, int flags, int mode);

    [LibraryImport(Library, SetLastError = true)]
    public static partial int close(int fd);

    [LibraryImport(Library, SetLastError = true)]
    public static partial int dup2(int oldFd, int newFd);

    [LibraryImport(Library, SetLastError = true)]
    public static partial int dup3(int oldFd, int newFd, int flags);

    [LibraryImport(Library, SetLastError = true)]
    public static partial long lseek(int fd, long offset, int whence);

    [LibraryImport(Library, SetLastError = true)]
    public static partial int isatty(int fd);

    [LibraryImport(Library)]
    public static partial uint umask(uint mask);

    public const int O_NOFOLLOW = 0x20000;

    [LibraryImport(Library, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int chown(string path, uint owner, uint group);

    [LibraryImport(Library, SetLastError = true)]
    public static partial int fchown(int fd, uint owner, uint group);

    [LibraryImport(Library, SetLastError = true)]
    public static unsafe partial nint write(int fd, byte* buffer, nuint count);

    [LibraryImport(Library, SetLastError = true)]
    public static unsafe partial nint read(int fd, byte* buffer, nuint count);

    [LibraryImport(Library, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint opendir(string path);

    /// <summary>The next entry of a directory stream: a struct dirent, whose name is at <see cref="DirentNameOffset"/>; null at the end.</summary>
    [LibraryImport(Library, SetLastError = true)]
    public static unsafe partial byte* readdir(nint directory);

    [LibraryImport(Library)]
    public static partial int closedir(nint directory);

    /// <summary>d_name's offset in struct dirent on 64-bit Linux, glibc and musl alike (d_ino, d_off, d_reclen, d_type before it).</summary>
    public const int DirentNameOffset = 19;

    [LibraryImport(Library, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int rename(string from, string to);

    // access(2) mode; for root too it fails on a file system mounted noexec.
    public const int X_OK = 1;

    [LibraryImport(Library, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int access(string path, int mode);

    public const int SOL_SOCKET = 1;
    public const int IPPROTO_TCP = 6;
    public const int TCP_INFO = 11;
    public const int SO_TYPE = 3;
    public const int SO_PEERCRED = 17;
    public const int SO_ACCEPTCONN = 30;
    public const int SO_DOMAIN = 39;
    public const int AF_UNIX = 1;
    public const int AF_INET = 2;
    public const int AF_INET6 = 10;
    public const int AF_NETLINK = 16;
    public const int AF_PACKET = 17;
    public const int SOCK_STREAM = 1;
    public const int SOCK_DGRAM = 2;
    public const int SOCK_RAW = 3;
    public const int SOCK_SEQPACKET = 5;

    [LibraryImport(Library, SetLastError = true)]
    public static unsafe partial int getsockopt(int fd, int level, int name, int* value, int* length);

    [LibraryImport(Library, SetLastError = true)]
    public static unsafe partial int getsockname(int fd, byte* address, int* length);

    [LibraryImport(Library, SetLastError = true)]
    public static unsafe partial int getpeername(int fd, byte* address, int* length);

    public const int LOCK_SH = 1;
    public const int LOCK_EX = 2;
    public const int LOCK_NB = 4;

    [LibraryImport(Library, SetLastError = true)]
    public static partial int flock(int fd, int operation);

    public const int SHUT_RDWR = 2;

    [LibraryImport(Library, SetLastError = true)]
    public static partial int shutdown(int fd, int how);

    [LibraryImport(Library, SetLastError = true)]
    public static partial int malloc_trim(nuint pad);

    // ioctl(2) on a socket: the bytes written to it that the other end has not yet read.
    public const nuint SIOCOUTQ = 0x5411;

    [LibraryImport(Library, SetLastError = true)]
    public static unsafe partial int ioctl(int fd, nuint request, int* value);

    // pidfd_open(2) and pidfd_getfd(2), by number (the same on every architecture since Linux 5.6;
    // glibc wraps them only from 2.36).
    public const long SYS_pidfd_open = 434;
    public const long SYS_pidfd_getfd = 438;

    [LibraryImport(Library, SetLastError = true)]
    public static partial long syscall(long number, long argument1, long argument2, long argument3);

    // userfaultfd(2), by number (glibc wraps it only from 2.36): what CRIU's lazy pages rest on.
    public static long SYS_userfaultfd => RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? 282 : 323;

    // membarrier(2), by number: the gate's close (ProcessWideBarrier); -1 where not known here.
    public static long SYS_membarrier => RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 => 324,
        Architecture.Arm64 => 283,
        _ => -1,
    };
    public const long MEMBARRIER_CMD_PRIVATE_EXPEDITED = 1 << 3;
    public const long MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED = 1 << 4;

    public const short POLLHUP = 0x10;
    public const short POLLNVAL = 0x20;

    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events;
        public short ReturnedEvents;
    }

    [LibraryImport(Library, SetLastError = true)]
    public static unsafe partial int poll(PollFd* descriptors, nuint count, int timeoutMilliseconds);

    /// <summary>Linux's struct statx: the same layout on every architecture, unlike struct stat.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct StatX
    {
        public uint Mask;
        public uint BlockSize;
        public ulong Attributes;
        public uint LinkCount;
        public uint Uid;
        public uint Gid;
        public ushort Mode;
        private ushort _pad1;
        public ulong Inode;
        public ulong Size;
        public ulong Blocks;
        public ulong AttributesMask;
        private unsafe fixed byte _timestamps[64];
        public uint RdevMajor;
        public uint RdevMinor;
        public uint DevMajor;
        public uint DevMinor;
        private unsafe fixed ulong _spare[14];
    }

    /// <summary>Owner and mode of a path, not following a final symlink.</summary>
    public static bool TryGetOwnerAndMode(string path, out uint uid, out uint mode)
    {
        if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, out StatX buffer) != 0)
        {
            uid = 0;
            mode = 0;
            return false;
        }

        uid = buffer.Uid;
        mode = buffer.Mode;
        return true;
    }

    /// <summary>The inode an open descriptor refers to.</summary>
    public static bool TryGetInode(int fd, out ulong inode)
    {
        bool ok = statx(fd, string.Empty, AT_EMPTY_PATH, STATX_BASIC_STATS, out StatX buffer) == 0;
        inode = ok ? buffer.Inode : 0;
        return ok;
    }

    [LibraryImport(Library, SetLastError = true)]
    private static partial long syscall(long number, long arg1, long arg2, long arg3, long arg4, long arg5);

    private const int KCMP_FILE = 0;

    /// <summary>
    /// Whether two fds of this process share one open file description (one is a dup of the
    /// other), by kcmp(2); null when the kernel cannot tell.
    /// </summary>
    public static bool? SameOpenFile(int fd1, int fd2)
    {
        long number = RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.X64 => 312,
            Architecture.Arm64 => 272,
            _ => -1,
        };
        if (number < 0)
        {
            return null;
        }

        int pid = getpid();
        long result = syscall(number, pid, pid, KCMP_FILE, fd1, fd2);
        return result < 0 ? null : result == 0;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct DlInfo
    {
        public nint FileName;
        public nint Base;
        public nint SymbolName;
        public nint SymbolAddress;
    }

    [LibraryImport(Library)]
    public static partial int dladdr(nint address, out DlInfo info);

    public static string LastErrorMessage() => Marshal.GetLastPInvokeErrorMessage();
}
