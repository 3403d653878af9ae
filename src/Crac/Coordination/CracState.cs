using System.Diagnostics;

namespace Crac.Coordination;

/// <summary>The process's coordination history: restores, and the last checkpoint's outcome.</summary>
internal sealed class CracState
{
    private readonly Lock _lock = new();
    private long _restoredAtTimestamp;

    public int Generation { get; private set; }

    public DateTimeOffset? RestoreTime { get; private set; }

    public TimeSpan? LastRestoreDuration { get; private set; }

    public CheckpointOutcome LastOutcome { get; private set; } = CheckpointOutcome.None;

    /// <summary>The engine of the last checkpoint, or null.</summary>
    public string? LastEngine { get; private set; }

    public DateTimeOffset? LastCheckpointTime { get; private set; }

    public string? LastError { get; private set; }

    /// <summary>The phase of the checkpoint running now, or null.</summary>
    public Engines.CheckpointPhase? CurrentPhase { get; set; }

    public TimeSpan? UptimeSinceRestore =>
        _restoredAtTimestamp == 0 ? null : Stopwatch.GetElapsedTime(_restoredAtTimestamp);

    /// <summary>Counts a restore; CRIU restores into a new time namespace, so the monotonic clock measures uptime across it.</summary>
    public void RecordRestore(DateTimeOffset restoreStartedAt)
    {
        lock (_lock)
        {
            Generation++;
            RestoreTime = restoreStartedAt;
            _restoredAtTimestamp = Stopwatch.GetTimestamp();
        }
    }

    public void RecordRestoreCompleted()
    {
        lock (_lock)
        {
            if (RestoreTime is { } started)
            {
                TimeSpan duration = DateTimeOffset.UtcNow - started;
                LastRestoreDuration = duration < TimeSpan.Zero ? TimeSpan.Zero : duration;
            }
        }
    }

    public void RecordOutcome(DateTimeOffset startedAt, string engine, CheckpointOutcome outcome, string? error)
    {
        lock (_lock)
        {
            LastEngine = engine;
            LastCheckpointTime = startedAt;
            LastOutcome = outcome;
            LastError = error;
        }
    }
}
