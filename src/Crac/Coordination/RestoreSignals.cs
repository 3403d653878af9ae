namespace Crac.Coordination;

/// <summary>
/// The restore signal any component can hook without being a registered resource (and so without
/// the weak-reference pitfall): a token cancelled when a checkpoint begins, an event raised after
/// each restore, and the identity of this incarnation of the process.
/// </summary>
internal static class RestoreSignals
{
    private static readonly Lock Gate = new();
    private static CancellationTokenSource _checkpoint = new();
    private static Guid _instanceId = Guid.NewGuid();

    public static event EventHandler? Restored;

    public static CancellationToken CheckpointToken
    {
        get
        {
            lock (Gate)
            {
                return _checkpoint.Token;
            }
        }
    }

    public static Guid InstanceId
    {
        get
        {
            lock (Gate)
            {
                return _instanceId;
            }
        }
    }

    /// <summary>A checkpoint (not a dry run) begins: the current token fires before any resource is told.</summary>
    public static void CheckpointStarting()
    {
        CancellationTokenSource source;
        lock (Gate)
        {
            source = _checkpoint;
        }

        // Callbacks run here, synchronously, on the checkpoint's thread; one that throws does not stop the checkpoint.
        try
        {
            source.Cancel();
        }
        catch (AggregateException)
        {
        }
    }

    /// <summary>
    /// The checkpoint is over (restored, kept running, or failed and rolled back): a fresh token
    /// for the next one; after a restore, a new instance id, then the event. Handlers' failures are returned.
    /// </summary>
    public static IReadOnlyList<Exception> CheckpointEnded(bool restored)
    {
        lock (Gate)
        {
            if (_checkpoint.IsCancellationRequested)
            {
                _checkpoint = new CancellationTokenSource();
            }

            if (restored)
            {
                _instanceId = Guid.NewGuid();
            }
        }

        var failures = new List<Exception>();
        if (restored && Restored is { } handlers)
        {
            foreach (EventHandler handler in handlers.GetInvocationList().Cast<EventHandler>())
            {
                try
                {
                    handler(null, EventArgs.Empty);
                }
                catch (Exception exception)
                {
                    failures.Add(exception);
                }
            }
        }

        return failures;
    }
}
