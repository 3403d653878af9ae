namespace Crac;

/// <summary>
/// A resource that notifies the resources registered in it, like <c>jdk.crac.Context</c>.
/// Contexts nest: a context is itself an <see cref="IResource"/> and can be registered in another.
/// </summary>
public abstract class Context : IResource
{
    /// <summary>
    /// Registers a resource. The global context holds it by weak reference, checkpoints in reverse
    /// registration order and restores in forward order. A resource registered while a checkpoint
    /// is running on another thread waits until the restore begins; one registered during
    /// <see cref="IResource.AfterRestoreAsync"/> is notified from the next checkpoint on.
    /// </summary>
    public abstract void Register(IResource resource);

    /// <summary>
    /// Registers a resource and, when <paramref name="keepAlive"/> is true, also holds it strongly
    /// for the lifetime of this context. Use it for a resource that nothing else references, such
    /// as one built from lambdas, which would otherwise be collected and silently never notified.
    /// </summary>
    public void Register(IResource resource, bool keepAlive)
    {
        ArgumentNullException.ThrowIfNull(resource);
        Register(resource);
        if (keepAlive)
        {
            lock (_keptAlive)
            {
                _keptAlive.Add(resource);
            }
        }
    }

    private readonly List<IResource> _keptAlive = [];

    /// <inheritdoc />
    public abstract Task BeforeCheckpointAsync(Context context, CancellationToken cancellationToken);

    /// <inheritdoc />
    public abstract Task AfterRestoreAsync(Context context, CancellationToken cancellationToken);
}
