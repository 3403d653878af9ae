using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

// Holds one kind of file descriptor open, the way a real library would, so that the agreement
// tests can compare dotnet-crac's verdict on it with what CRIU does with it:
//   FdZoo <kind> [argument]     (the argument is a port, a path or a peer, by kind)
// Prints "ready pid=N" once the descriptor is open, then idles until killed.
string kind = args[0];
string argument = args.Length > 1 ? args[1] : string.Empty;
// Unique per run, not per pid: in a pid namespace of its own (CI's) the same pids come back, and a
// killed zoo leaves its socket file behind, which the next bind to that path refused.
string scratch = Path.Combine(Path.GetTempPath(), $"fdzoo-{Environment.ProcessId}-{Guid.NewGuid():N}");
var keep = new List<object>();
var connections = new List<Socket>();

switch (kind)
{
    case "file-read":
        keep.Add(new FileStream(typeof(Zoo).Assembly.Location.Replace(".dll", ".deps.json"), FileMode.Open, FileAccess.Read, FileShare.Read));
        break;
    case "file-write":
        keep.Add(Zoo.Written(new FileStream(scratch, FileMode.Append, FileAccess.Write, FileShare.Read)));
        break;
    case "file-exclusive":
        keep.Add(Zoo.Written(new FileStream(scratch, FileMode.Create, FileAccess.ReadWrite, FileShare.None)));
        break;
    case "file-write-unlocked":
        Zoo.Check(Zoo.open(scratch, Zoo.O_WRONLY | Zoo.O_CREAT | Zoo.O_CLOEXEC, 0x180), "open");
        break;
    case "posix-write-lock":
        Zoo.PosixLock(Zoo.Check(Zoo.open(scratch, Zoo.O_RDWR | Zoo.O_CREAT | Zoo.O_CLOEXEC, 0x180), "open"), Zoo.F_SETLK, Zoo.F_WRLCK);
        break;
    case "posix-read-lock":
        Zoo.PosixLock(Zoo.Check(Zoo.open("/etc/hostname", Zoo.O_RDONLY | Zoo.O_CLOEXEC, 0), "open"), Zoo.F_SETLK, Zoo.F_RDLCK);
        break;
    case "ofd-write-lock":
        Zoo.PosixLock(Zoo.Check(Zoo.open(scratch, Zoo.O_RDWR | Zoo.O_CREAT | Zoo.O_CLOEXEC, 0x180), "open"), Zoo.F_OFD_SETLK, Zoo.F_WRLCK);
        break;
    case "deleted-small":
    case "deleted-large":
        int deleted = Zoo.Check(Zoo.open(scratch, Zoo.O_RDWR | Zoo.O_CREAT | Zoo.O_CLOEXEC, 0x180), "open");
        Zoo.WriteZeros(deleted, kind == "deleted-small" ? 4096 : 3 * 1024 * 1024);
        File.Delete(scratch);
        break;
    case "directory":
        Zoo.Check(Zoo.open("/tmp", Zoo.O_RDONLY | Zoo.O_DIRECTORY | Zoo.O_CLOEXEC, 0), "open");
        break;
    case "memfd":
        Zoo.WriteZeros(Zoo.Check(Zoo.memfd_create("fdzoo", Zoo.MFD_CLOEXEC), "memfd_create"), 4096);
        break;
    case "eventfd":
        Zoo.Check(Zoo.eventfd(0, Zoo.EFD_CLOEXEC), "eventfd");
        break;
    case "timerfd":
        Zoo.Arm(Zoo.Check(Zoo.timerfd_create(Zoo.CLOCK_MONOTONIC, Zoo.TFD_CLOEXEC), "timerfd_create"));
        break;
    case "signalfd":
        Zoo.SignalFd();
        break;
    case "epoll":
        Zoo.Check(Zoo.epoll_create1(Zoo.EPOLL_CLOEXEC), "epoll_create1");
        break;
    case "inotify":
        var watcher = new FileSystemWatcher(Path.GetTempPath()) { EnableRaisingEvents = true };
        keep.Add(watcher);
        break;
    case "fanotify":
        int fanotify = Zoo.Check(Zoo.fanotify_init(Zoo.FAN_CLASS_NOTIF | Zoo.FAN_CLOEXEC, 0), "fanotify_init");
        Zoo.Check(Zoo.fanotify_mark(fanotify, Zoo.FAN_MARK_ADD, Zoo.FAN_OPEN, Zoo.AT_FDCWD, "/tmp"), "fanotify_mark");
        break;
    case "pidfd":
        Zoo.Check((int)Zoo.syscall(Zoo.SYS_pidfd_open, Environment.ProcessId, 0), "pidfd_open");
        break;
    case "userfaultfd":
        Zoo.Check((int)Zoo.syscall(Zoo.SYS_userfaultfd, Zoo.O_CLOEXEC, 0), "userfaultfd");
        break;
    case "netlink":
        Zoo.Check(Zoo.socket(Zoo.AF_NETLINK, Zoo.SOCK_RAW | Zoo.SOCK_CLOEXEC, 0), "socket(AF_NETLINK)");
        break;
    case "packet":
        Zoo.Check(Zoo.socket(Zoo.AF_PACKET, Zoo.SOCK_DGRAM | Zoo.SOCK_CLOEXEC, 0), "socket(AF_PACKET)");
        break;
    case "tcp-listen":
        keep.Add(Zoo.Listen(int.Parse(argument)));
        break;
    case "tcp-accept":
        Socket listener = Zoo.Listen(int.Parse(argument));
        keep.Add(listener);
        _ = Task.Run(async () =>
        {
            while (true)
            {
                Socket accepted = await listener.AcceptAsync();
                lock (connections)
                {
                    connections.Add(accepted);
                }
            }
        });
        break;
    case "tcp-outbound":
    case "tcp-outbound-halfclosed":
        var client = new TcpClient();
        client.Connect(IPAddress.Loopback, int.Parse(argument));
        if (kind == "tcp-outbound-halfclosed")
        {
            client.Client.Shutdown(SocketShutdown.Send);
        }

        keep.Add(client);
        break;
    case "tcp-unconnected":
        keep.Add(new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
        break;
    case "udp":
        keep.Add(new UdpClient(new IPEndPoint(IPAddress.Loopback, int.Parse(argument))));
        break;
    case "udp-connected":
        var udp = new UdpClient();
        udp.Connect(IPAddress.Loopback, int.Parse(argument));
        keep.Add(udp);
        break;
    case "unix-listen":
        keep.Add(Zoo.UnixListen(new UnixDomainSocketEndPoint(scratch + ".sock")));
        break;
    case "unix-abstract":
        keep.Add(Zoo.UnixListen(new UnixDomainSocketEndPoint("\0fdzoo-" + Environment.ProcessId)));
        break;
    case "unix-pair":
        Zoo.SocketPair(Zoo.SOCK_STREAM);
        break;
    case "unix-dgram-pair":
        Zoo.SocketPair(Zoo.SOCK_DGRAM);
        break;
    case "unix-accept":
        Socket unixListener = Zoo.UnixListen(new UnixDomainSocketEndPoint(argument));
        keep.Add(unixListener);
        _ = Task.Run(async () =>
        {
            while (true)
            {
                Socket accepted = await unixListener.AcceptAsync();
                lock (connections)
                {
                    connections.Add(accepted);
                }
            }
        });
        break;
    case "unix-connect":
        var unixClient = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        unixClient.Connect(new UnixDomainSocketEndPoint(argument));
        keep.Add(unixClient);
        break;
    case "unix-dgram-connect":
        var dgram = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        dgram.Connect(new UnixDomainSocketEndPoint(argument));
        keep.Add(dgram);
        break;
    case "pipe-to-child":
        var child = Process.Start(new ProcessStartInfo("sleep", "3600") { RedirectStandardInput = true })!;
        keep.Add(child);
        break;
    case "pipe-to-outside":
        // setsid -f: the process that holds the other end is reparented away, outside this process's tree.
        var launcher = Process.Start(new ProcessStartInfo("setsid", "-f sleep 3600") { RedirectStandardOutput = true })!;
        launcher.WaitForExit();
        keep.Add(launcher);
        break;
    case "fifo":
        Zoo.Check(Zoo.mkfifo(scratch, 0x180), "mkfifo");
        Zoo.Check(Zoo.open(scratch, Zoo.O_RDWR | Zoo.O_CLOEXEC, 0), "open");
        break;
    case "pty":
        int master = Zoo.Check(Zoo.posix_openpt(Zoo.O_RDWR | Zoo.O_NOCTTY | Zoo.O_CLOEXEC), "posix_openpt");
        Zoo.Check(Zoo.grantpt(master), "grantpt");
        Zoo.Check(Zoo.unlockpt(master), "unlockpt");
        break;
    case "device":
        Zoo.Check(Zoo.open(argument, Zoo.O_RDWR | Zoo.O_CLOEXEC, 0), "open " + argument);
        break;
    case "none":
        break;
    default:
        Console.Error.WriteLine($"fdzoo: unknown kind {kind}");
        return 2;
}

Console.WriteLine($"ready pid={Environment.ProcessId}");
Console.Out.Flush();
while (true)
{
    Thread.Sleep(100);
}

internal static partial class Zoo
{
    public const int O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_CREAT = 0x40, O_NOCTTY = 0x100, O_DIRECTORY = 0x10000, O_CLOEXEC = 0x80000;
    public const int F_SETLK = 6, F_OFD_SETLK = 37, F_RDLCK = 0, F_WRLCK = 1;
    public const uint MFD_CLOEXEC = 1;
    public const int EFD_CLOEXEC = 0x80000, TFD_CLOEXEC = 0x80000, EPOLL_CLOEXEC = 0x80000, SFD_CLOEXEC = 0x80000, CLOCK_MONOTONIC = 1;
    public const uint FAN_CLASS_NOTIF = 0, FAN_CLOEXEC = 1, FAN_MARK_ADD = 1;
    public const ulong FAN_OPEN = 0x20;
    public const int AT_FDCWD = -100;
    public const long SYS_pidfd_open = 434, SYS_userfaultfd = 323;
    public const int AF_UNIX = 1, AF_NETLINK = 16, AF_PACKET = 17, SOCK_STREAM = 1, SOCK_DGRAM = 2, SOCK_RAW = 3, SOCK_CLOEXEC = 0x80000;

    public static int Check(int result, string what) =>
        result >= 0 ? result : throw new InvalidOperationException($"{what} failed: {Marshal.GetLastPInvokeErrorMessage()}");

    public static FileStream Written(FileStream stream)
    {
        stream.Write("fdzoo\n"u8);
        stream.Flush();
        return stream;
    }

    public static unsafe void WriteZeros(int fd, int bytes)
    {
        byte[] zeros = new byte[bytes];
        fixed (byte* buffer = zeros)
        {
            Check((int)write(fd, buffer, (nuint)bytes), "write");
        }
    }

    public static unsafe void PosixLock(int fd, int command, short type)
    {
        // struct flock { short l_type; short l_whence; off_t l_start; off_t l_len; pid_t l_pid; }
        long* flock = stackalloc long[4];
        new Span<long>(flock, 4).Clear();
        *(short*)flock = type;
        Check(fcntl(fd, command, flock), "fcntl lock");
    }

    public static unsafe void Arm(int timer)
    {
        // struct itimerspec { it_interval; it_value }: fire once, in an hour.
        long* spec = stackalloc long[4] { 0, 0, 3600, 0 };
        Check(timerfd_settime(timer, 0, spec, null), "timerfd_settime");
    }

    public static unsafe void SignalFd()
    {
        ulong* mask = stackalloc ulong[16];
        new Span<ulong>(mask, 16).Clear();
        mask[0] = 1UL << (10 - 1); // SIGUSR1, unused by the runtime
        Check(signalfd(-1, mask, SFD_CLOEXEC), "signalfd");
    }

    public static Socket Listen(int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, port));
        socket.Listen(64);
        return socket;
    }

    public static Socket UnixListen(UnixDomainSocketEndPoint endpoint)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        socket.Bind(endpoint);
        socket.Listen(8);
        return socket;
    }

    public static unsafe void SocketPair(int type)
    {
        int* pair = stackalloc int[2];
        Check(socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, pair), "socketpair");
    }

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int open(string path, int flags, int mode);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial nint write(int fd, byte* buffer, nuint count);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int fcntl(int fd, int command, long* flock);

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int memfd_create(string name, uint flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int eventfd(uint initial, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int timerfd_create(int clock, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int timerfd_settime(int fd, int flags, long* newValue, long* oldValue);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int signalfd(int fd, ulong* mask, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int epoll_create1(int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int fanotify_init(uint flags, uint eventFlags);

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int fanotify_mark(int fd, uint flags, ulong mask, int directory, string path);

    [LibraryImport("libc", SetLastError = true)]
    public static partial long syscall(long number, long argument1, long argument2);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int socket(int domain, int type, int protocol);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int socketpair(int domain, int type, int protocol, int* pair);

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int mkfifo(string path, int mode);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int posix_openpt(int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int grantpt(int fd);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int unlockpt(int fd);
}
