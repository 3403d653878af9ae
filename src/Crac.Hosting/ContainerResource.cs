namespace Crac.Hosting;

/// <summary>
/// A resource of the container as the global context holds it: notified while its host lives, and
/// no longer once the host is disposed (the global context has no unregistration, and holds the
/// disposed container's objects until they are collected).
/// </summary>
internal sealed class ContainerResource(IResource inner) : IResource
{
    private volatile bool _stopped;

    public IResource Inner { get; } = inner;

    public void Stop() => _stopped = true;

    public Task BeforeCheckpointAsync(Context context, CancellationToken cancellationToken) =>
        _stopped ? Task.CompletedTask : Inner.BeforeCheckpointAsync(context, cancellationToken);

    public Task AfterRestoreAsync(Context context, CancellationToken cancellationToken) =>
        _stopped ? Task.CompletedTask : Inner.AfterRestoreAsync(context, cancellationToken);

    public override string ToString() => Coordination.ResourceInvoker.Describe(Inner);
}
