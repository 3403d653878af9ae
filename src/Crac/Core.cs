using Crac.Coordination;
using Crac.Engines;
using Crac.Management;

namespace Crac;

/// <summary>
/// The coordination service, like <c>jdk.crac.Core</c>: the global context, and a way for the
/// application to checkpoint itself.
/// </summary>
public static class Core
{
    /// <summary>
    /// The global context. It holds resources by weak reference, notifies them in reverse
    /// registration order before a checkpoint and in forward order after a restore, and notifies
    /// every one of them even when others throw. The runtime's own resources (the agent's, and
    /// file-descriptor handling) run after the application's at checkpoint and before them at restore.
    /// </summary>
    public static Context GlobalContext => Coordinator.Global;

    /// <summary>
    /// The coordination state: engine, checkpointability, generation, restore time, last outcome.
    /// <see cref="Management.Checkpointability.Ready"/> means what a dry run would check short of
    /// asking the resources passes now: the configuration, the engine's preflight, the resource
    /// policies and every file descriptor (which this reads, so it is not free).
    /// </summary>
    public static CracStatus Status => CracStatus.Capture(Readiness.Assess(Engines.CheckpointTrigger.Api));

    /// <summary>
    /// Checkpoints the process and returns once it is restored (or, for a failed checkpoint, once
    /// every notified resource has been told to restore). Options come from the environment.
    /// </summary>
    /// <exception cref="CheckpointException">The checkpoint failed; the process carries on.</exception>
    /// <exception cref="RestoreException">The process was restored but a restore notification failed.</exception>
    public static void CheckpointRestore() =>
        // The checkpoint awaits resources on pool threads; blocking here cannot deadlock it.
        CheckpointRestoreAsync().GetAwaiter().GetResult();

    /// <inheritdoc cref="CheckpointRestore()"/>
    public static Task CheckpointRestoreAsync(CancellationToken cancellationToken = default) =>
        CheckpointRestoreAsync(null, cancellationToken);

    /// <summary>Checkpoints the process with the given options (unset ones come from the environment).</summary>
    /// <inheritdoc cref="CheckpointRestore()"/>
    public static async Task CheckpointRestoreAsync(CheckpointOptions? options, CancellationToken cancellationToken = default)
    {
        CheckpointReport report = await Coordinator.RunAsync(options, CheckpointTrigger.Api, observer: null, cancellationToken)
            .ConfigureAwait(false);
        if (report.Failure is { } failure)
        {
            throw failure;
        }
    }

    /// <summary>
    /// A token that is cancelled when a checkpoint begins, before any resource is notified (not for
    /// a dry run). After the restore, or after a failed checkpoint has rolled back, a new token takes
    /// its place: read this property again rather than keeping the token. For work that must stop
    /// for a checkpoint and that is not worth an <see cref="IResource"/>.
    /// </summary>
    public static CancellationToken CheckpointToken => RestoreSignals.CheckpointToken;

    /// <summary>
    /// Raised after each restore, once every resource's <see cref="IResource.AfterRestoreAsync"/> has
    /// run (not after a failed checkpoint's rollback). Handlers run in order on the restore's thread;
    /// one that throws makes the restore's <see cref="RestoreException"/>. Unlike the global context,
    /// the event holds its handlers strongly: unsubscribe a handler whose owner goes away.
    /// </summary>
    public static event EventHandler? Restored
    {
        add => RestoreSignals.Restored += value;
        remove => RestoreSignals.Restored -= value;
    }

    /// <summary>How many times this process has been restored: 0 for a process never checkpointed.</summary>
    public static int Generation => Coordinator.State.Generation;

    /// <summary>
    /// An identifier for this incarnation of the process: new at start-up and after each restore, so
    /// two processes restored from one image never share it (unlike anything computed before the
    /// checkpoint). Use it to tell instances apart in logs, metrics and leases.
    /// </summary>
    public static Guid InstanceId => RestoreSignals.InstanceId;

    /// <summary>
    /// Registers the code that receives new arguments given at restore
    /// (<c>dotnet crac restore &lt;dir&gt; -- args</c>), like the new main class a CRaC restore
    /// may name. It runs after the after-restore notifications; its failure is a <see cref="RestoreException"/>.
    /// </summary>
    public static void SetRestoreEntryPoint(Func<string[], Task>? entryPoint) => Coordinator.SetRestoreEntryPoint(entryPoint);
}
