namespace Crac;

/// <summary>Resources made of delegates.</summary>
public static class Resource
{
    /// <summary>
    /// Registers a resource made of two delegates in <see cref="Core.GlobalContext"/>, held
    /// strongly for the life of the process. A resource built from lambdas is the usual victim of
    /// the weak global context (nothing else references it, so it is collected and silently never
    /// notified); this registers it so that it cannot be lost. Register it once, at start-up:
    /// it is never released.
    /// </summary>
    /// <param name="name">Names the resource in errors.</param>
    /// <param name="beforeCheckpoint">Runs before the checkpoint; its token fires at the checkpoint's deadline.</param>
    /// <param name="afterRestore">Runs after the restore, and after a failed checkpoint.</param>
    /// <returns>The registered resource.</returns>
    public static IResource Register(string name, Func<CancellationToken, Task> beforeCheckpoint, Func<CancellationToken, Task> afterRestore)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(beforeCheckpoint);
        ArgumentNullException.ThrowIfNull(afterRestore);
        var resource = new DelegateResource(name, beforeCheckpoint, afterRestore);
        Core.GlobalContext.Register(resource, keepAlive: true);
        return resource;
    }

    private sealed class DelegateResource(string name, Func<CancellationToken, Task> before, Func<CancellationToken, Task> after) : IResource
    {
        public Task BeforeCheckpointAsync(Context context, CancellationToken cancellationToken) => before(cancellationToken);

        public Task AfterRestoreAsync(Context context, CancellationToken cancellationToken) => after(cancellationToken);

        public override string ToString() => name;
    }
}
