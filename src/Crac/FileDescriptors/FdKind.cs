using System.Text.Json.Serialization;
using Crac.Diagnostics;

namespace Crac.FileDescriptors;

/// <summary>What kind of object a file descriptor refers to; the names are those `fds` shows.</summary>
[JsonConverter(typeof(KebabCaseEnumConverter<FdKind>))]
internal enum FdKind
{
    [JsonStringEnumMemberName("regular")]
    File,
    [JsonStringEnumMemberName("directory")]
    Directory,
    [JsonStringEnumMemberName("pipe")]
    Pipe,
    [JsonStringEnumMemberName("fifo")]
    Fifo,
    [JsonStringEnumMemberName("unix socket")]
    UnixSocket,
    [JsonStringEnumMemberName("tcp socket")]
    TcpSocket,
    [JsonStringEnumMemberName("udp socket")]
    UdpSocket,
    [JsonStringEnumMemberName("socket")]
    Socket,
    [JsonStringEnumMemberName("eventfd")]
    EventFd,
    [JsonStringEnumMemberName("epoll")]
    EventPoll,
    [JsonStringEnumMemberName("inotify")]
    Inotify,
    [JsonStringEnumMemberName("memfd")]
    Memfd,
    [JsonStringEnumMemberName("signalfd")]
    SignalFd,
    [JsonStringEnumMemberName("timerfd")]
    TimerFd,
    [JsonStringEnumMemberName("pidfd")]
    PidFd,
    [JsonStringEnumMemberName("fanotify")]
    Fanotify,
    [JsonStringEnumMemberName("anon inode")]
    AnonInode,
    [JsonStringEnumMemberName("character device")]
    CharacterDevice,
    [JsonStringEnumMemberName("block device")]
    BlockDevice,
    [JsonStringEnumMemberName("unknown")]
    Unknown,
}
