namespace Crac.FileDescriptors;

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

    /// <summary>For TCP: the connection's state.</summary>
    public TcpState? TcpState { get; init; }

    /// <summary>For a TCP listener: connections the kernel accepted that the application has not (yet).</summary>
    public int? Backlog { get; init; }

    /// <summary>For a connected unix socket: the process at the other end.</summary>
    public int? PeerPid { get; init; }

    public bool IsTcp => Family is "inet" or "inet6" && Type == "stream";

    public bool IsUnixStream => Family == "unix" && Type is "stream" or "seqpacket";

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
