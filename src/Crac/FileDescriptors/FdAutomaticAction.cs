using System.Text.Json.Serialization;
using Crac.Diagnostics;

namespace Crac.FileDescriptors;

/// <summary>What a checkpoint does by itself with a descriptor that needs no code and no policy.</summary>
[JsonConverter(typeof(KebabCaseEnumConverter<FdAutomaticAction>))]
internal enum FdAutomaticAction
{
    None,

    /// <summary>A listening socket: CRIU restores it; connections still in its backlog are dropped.</summary>
    KeepListening,

    /// <summary>A connection this process accepted: shut down before the dump, so its client sees a close.</summary>
    CloseInbound,

    /// <summary>A shared lock on a read-only file: CRIU takes it along (--file-locks).</summary>
    TakeLockAlong,

    /// <summary>Its owner (a connection pool's resource) closes it before every checkpoint: seen from status and fds only.</summary>
    ClosedByOwner,
}
