using System.Text.Json.Serialization;
using Crac.Diagnostics;

namespace Crac.FileDescriptors;

/// <summary>A TCP socket's state, as the kernel numbers them (include/net/tcp_states.h).</summary>
[JsonConverter(typeof(KebabCaseEnumConverter<TcpState>))]
internal enum TcpState : byte
{
    Unknown = 0,
    Established = 1,
    SynSent = 2,
    SynReceived = 3,
    FinWait1 = 4,
    FinWait2 = 5,
    TimeWait = 6,

    /// <summary>Not connected (a socket never connected, or one fully closed).</summary>
    Close = 7,
    CloseWait = 8,
    LastAck = 9,
    Listen = 10,
    Closing = 11,
}
