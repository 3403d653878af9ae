using System.Diagnostics;
using Crac.Coordination;
using Microsoft.Extensions.Logging;

namespace Crac.Hosting;

/// <summary>Closes the <see cref="BackgroundWork"/> gate before a checkpoint (waiting for the units in progress) and opens it after the restore.</summary>
internal sealed class BackgroundWorkResource(BackgroundWork work, ILogger<BackgroundWork> logger) : IResource
{
    public async Task BeforeCheckpointAsync(Context context, CancellationToken cancellationToken)
    {
        long started = Stopwatch.GetTimestamp();
        await work.Gate.BeforeCheckpointAsync(context, cancellationToken).ConfigureAwait(false);
        string description = string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"background work paused ({Stopwatch.GetElapsedTime(started).TotalMilliseconds:0} ms for the units in progress to end); new units wait for the restore");
        CheckpointActions.Record("hosting", description);
        logger.LogInformation("Checkpoint: {Description}", description);
    }

    public async Task AfterRestoreAsync(Context context, CancellationToken cancellationToken)
    {
        await work.Gate.AfterRestoreAsync(context, cancellationToken).ConfigureAwait(false);
        logger.LogInformation("Restore: background work resumed");
    }

    public override string ToString() => work.Gate.Name;
}
