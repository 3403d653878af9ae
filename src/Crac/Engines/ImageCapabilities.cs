using System.Text.Json.Serialization;
using Crac.Diagnostics;

namespace Crac.Engines;

/// <summary>How an engine's image treats file locks held by the process.</summary>
[JsonConverter(typeof(KebabCaseEnumConverter<FileLockHandling>))]
internal enum FileLockHandling
{
    /// <summary>Any lock fails the dump (CRIU without --file-locks).</summary>
    Refuse,

    /// <summary>Shared locks on read-only descriptors are taken along; others block (the default).</summary>
    TakeSharedReadLocks,

    /// <summary>Every lock is taken along as it is (file-locks=true).</summary>
    TakeAll,
}

/// <summary>
/// What the image can take along as it is, from the options the engine will pass: this decides
/// which descriptors block a checkpoint, so a verdict says what the dump will do. The simulate and
/// pause engines rehearse the criu engine's defaults.
/// </summary>
internal sealed record ImageCapabilities
{
    public static readonly ImageCapabilities CriuDefaults = new()
    {
        Locks = FileLockHandling.TakeSharedReadLocks,
        ClosesInbound = true,
        ClosesOutbound = false,
        PreservesConnections = false,
        GhostLimit = DefaultGhostLimit,
    };

    /// <summary>CRIU's own default: a deleted file up to this size is kept in the image.</summary>
    public const long DefaultGhostLimit = 1024 * 1024;

    public required FileLockHandling Locks { get; init; }

    /// <summary>Connections this process accepted are shut down before the dump and restored closed (tcp-close=auto).</summary>
    public required bool ClosesInbound { get; init; }

    /// <summary>Outbound connections are restored closed too (tcp-close=true: the operator's choice).</summary>
    public required bool ClosesOutbound { get; init; }

    /// <summary>Connected TCP sockets are dumped and restored as they are (--tcp-established).</summary>
    public required bool PreservesConnections { get; init; }

    /// <summary>The largest deleted file kept in the image (--ghost-limit).</summary>
    public required long GhostLimit { get; init; }
}
