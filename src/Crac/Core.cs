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
    public static CracStatus Status => CracStatus.Capture(Readiness.Assess());

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
    /// Registers the code that receives new arguments given at restore
    /// (<c>dotnet crac restore &lt;dir&gt; -- args</c>), like the new main class a CRaC restore
    /// may name. It runs after the after-restore notifications; its failure is a <see cref="RestoreException"/>.
    /// </summary>
    public static void SetRestoreEntryPoint(Func<string[], Task>? entryPoint) => Coordinator.SetRestoreEntryPoint(entryPoint);
}
