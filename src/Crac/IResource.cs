namespace Crac;

/// <summary>
/// Receives checkpoint and restore notifications, like <c>jdk.crac.Resource</c>.
/// Register it in a <see cref="Context"/>, usually <see cref="Core.GlobalContext"/>.
/// </summary>
/// <remarks>
/// The global context holds resources by <b>weak reference</b>: a resource that nothing else
/// references is collected and stops being notified. Keep it in a field of a long-lived object,
/// or register it with <c>keepAlive: true</c>.
/// </remarks>
public interface IResource
{
    /// <summary>
    /// Called before the checkpoint. Release what cannot be checkpointed: close files and sockets,
    /// stop background work. Throwing fails the checkpoint; <see cref="AfterRestoreAsync"/> is
    /// still called so the resource can roll back.
    /// </summary>
    /// <param name="context">The context that notifies this resource.</param>
    /// <param name="cancellationToken">Fires when the checkpoint timeout expires.</param>
    Task BeforeCheckpointAsync(Context context, CancellationToken cancellationToken);

    /// <summary>
    /// Called after a restore, and after a failed checkpoint so the resource can roll back.
    /// Reopen what <see cref="BeforeCheckpointAsync"/> released.
    /// </summary>
    /// <param name="context">The context that notifies this resource.</param>
    /// <param name="cancellationToken">Fires when the restore timeout expires.</param>
    Task AfterRestoreAsync(Context context, CancellationToken cancellationToken);
}
