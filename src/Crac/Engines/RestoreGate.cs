namespace Crac.Engines;

internal enum RestoreSignalKind
{
    /// <summary>The process was restored from its image (or woken from a pause).</summary>
    Restored,

    /// <summary>The image was taken and the original process carries on (keep-running).</summary>
    KeptRunning,

    /// <summary>The dump failed; the process carries on and must roll back.</summary>
    DumpFailed,
}

/// <summary>What the tool needs to dump a process that waits for it: the image's metadata and CRIU's settings.</summary>
internal sealed record DumpInstructions(ImageMetadata Metadata, string ImageDirectory, string EngineOptions, bool KeepRunning);

/// <summary>What wakes a parked checkpoint, sent by the tool through the agent or by the self-dump watcher.</summary>
internal sealed record RestoreSignal(RestoreSignalKind Kind, RestoreContext? Context = null, string? Failure = null);

/// <summary>
/// Where a checkpoint waits once the process is ready to be imaged: for the tool to dump it, for
/// the self-dump to finish, or for a restore to wake it. One checkpoint runs at a time, so there
/// is at most one waiter.
/// </summary>
internal static class RestoreGate
{
    private static readonly Lock Sync = new();
    private static TaskCompletionSource<RestoreSignal>? _waiter;

    /// <summary>Set while a checkpoint waits for the tool to dump it.</summary>
    public static DumpInstructions? Instructions { get; private set; }

    public static bool IsArmed
    {
        get
        {
            lock (Sync)
            {
                return _waiter is not null;
            }
        }
    }

    public static Task<RestoreSignal> Arm(DumpInstructions? instructions = null)
    {
        lock (Sync)
        {
            Instructions = instructions;
            _waiter = new TaskCompletionSource<RestoreSignal>(TaskCreationOptions.RunContinuationsAsynchronously);
            return _waiter.Task;
        }
    }

    /// <returns>False when nothing is waiting (no checkpoint is parked).</returns>
    public static bool TrySignal(RestoreSignal signal)
    {
        TaskCompletionSource<RestoreSignal>? waiter;
        lock (Sync)
        {
            waiter = _waiter;
            _waiter = null;
            Instructions = null;
        }

        return waiter?.TrySetResult(signal) ?? false;
    }

    public static void Disarm()
    {
        lock (Sync)
        {
            _waiter = null;
            Instructions = null;
        }
    }
}
