namespace Crac.Engines;

/// <summary>
/// Where a checkpoint waits once the process is ready to be imaged: for the tool to dump it, for
/// the self-dump to finish, or for a restore to wake it. One checkpoint runs at a time, so there
/// is at most one waiter.
/// </summary>
internal static class RestoreGate
{
    private static readonly Lock Sync = new();
    private static TaskCompletionSource<RestoreSignal>? _waiter;

    /// <summary>
    /// Reads the restorer's hand-over (its environment and new arguments) left for a process CRIU has
    /// just restored, if there is one: set by the agent, which knows where the tool leaves it.
    /// </summary>
    public static Func<RestoreContext?>? RestoreContextReader { get; set; }

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

    public static Task<RestoreSignal> Arm()
    {
        lock (Sync)
        {
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
        }

        return waiter?.TrySetResult(signal) ?? false;
    }

    public static void Disarm()
    {
        lock (Sync)
        {
            _waiter = null;
        }
    }
}
