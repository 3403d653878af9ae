namespace Crac.Interop;

/// <summary>One line of /proc/net/unix.</summary>
internal sealed record UnixSocketEntry(ulong Inode, int Flags, int Type, int State, string? Path)
{
    private const int AcceptConnections = 0x10000; // __SO_ACCEPTCON
    private const int Connected = 3;                // SS_CONNECTED

    public bool IsListening => (Flags & AcceptConnections) != 0;

    public bool IsConnected => State == Connected;
}
