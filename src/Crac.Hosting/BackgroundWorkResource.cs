using System.Diagnostics;
using Crac.Coordination;
using Microsoft.Extensions.Logging;

namespace Crac.Hosting;

/// <summary>Closes the <see cref="BackgroundWork"/> gate before a checkpoint and opens it after the restore.</summary>
internal sealed class BackgroundWorkResource(BackgroundWork work, ILogger<BackgroundWork> logger) : IResource
{
    public async Task BeforeCheckpointAsync(Context context, CancellationToken cancellationToken)
    {
        int running = work.Gate.Running;
        long started = Stopwatch.GetTimestamp();
        try
        {
            await work.Gate.CloseAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException(
                $"Background work did not pause: {work.Gate.Running} unit(s) begun with BackgroundWork.BeginAsync were still running at the checkpoint timeout. " +
                "Make them honour their cancellation token, keep units short, or raise the timeout.");
        }

        string description = running == 0
            ? "background work paused (none was running)"
            : $"background work paused after {running} running unit(s) ended ({Stopwatch.GetElapsedTime(started).TotalMilliseconds:0} ms)";
        CheckpointActions.Record("hosting", description);
        logger.LogInformation("Checkpoint: {Description}; new units wait until the restore", description);
    }

    public Task AfterRestoreAsync(Context context, CancellationToken cancellationToken)
    {
        work.Gate.Open();
        logger.LogInformation("Restore: background work resumed");
        return Task.CompletedTask;
    }

    public override string ToString() => "background work (BackgroundWork)";
}
