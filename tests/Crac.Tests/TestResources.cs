using System.Collections.Concurrent;

namespace Crac.Tests;

/// <summary>Records "id-before" / "id-after" into a list, like the jtreg tests' MockResource.</summary>
internal class RecordingResource(ConcurrentQueue<string> recorder, string id) : IResource
{
    public string Id { get; } = id;

    protected ConcurrentQueue<string> Recorder { get; } = recorder;

    public virtual Task BeforeCheckpointAsync(Context context, CancellationToken cancellationToken)
    {
        Recorder.Enqueue(Id + "-before");
        return Task.CompletedTask;
    }

    public virtual Task AfterRestoreAsync(Context context, CancellationToken cancellationToken)
    {
        Recorder.Enqueue(Id + "-after");
        return Task.CompletedTask;
    }

    public override string ToString() => Id;
}

/// <summary>Records, then throws from both callbacks.</summary>
internal sealed class ThrowingResource(ConcurrentQueue<string> recorder, string id) : RecordingResource(recorder, id)
{
    public override async Task BeforeCheckpointAsync(Context context, CancellationToken cancellationToken)
    {
        await base.BeforeCheckpointAsync(context, cancellationToken);
        throw new InvalidOperationException(Id + "-before");
    }

    public override async Task AfterRestoreAsync(Context context, CancellationToken cancellationToken)
    {
        await base.AfterRestoreAsync(context, cancellationToken);
        throw new InvalidOperationException(Id + "-after");
    }
}

/// <summary>A resource made of two delegates, the shape that is easy to register and lose.</summary>
internal sealed class DelegateResource(Action before, Action after) : IResource
{
    public Task BeforeCheckpointAsync(Context context, CancellationToken cancellationToken)
    {
        before();
        return Task.CompletedTask;
    }

    public Task AfterRestoreAsync(Context context, CancellationToken cancellationToken)
    {
        after();
        return Task.CompletedTask;
    }
}

internal static class Simulate
{
    public static CheckpointOptions Options(bool dryRun = false, TimeSpan? timeout = null) =>
        new() { Engine = "simulate", DryRun = dryRun, Timeout = timeout };

    /// <summary>
    /// A synchronous checkpoint on the simulate engine. Tests that register resources stay
    /// synchronous: an async test method hoists its locals into a state machine the test host may
    /// keep, which would keep the test's resources registered in the (weak) global context.
    /// </summary>
    public static void Checkpoint(bool dryRun = false, TimeSpan? timeout = null) =>
        Core.CheckpointRestoreAsync(Options(dryRun, timeout)).GetAwaiter().GetResult();

    /// <summary>Collects resources earlier tests dropped, so they are not notified in this one.</summary>
    public static void CollectGarbage()
    {
        for (int i = 0; i < 3; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
    }

    public static List<string> Drain(this ConcurrentQueue<string> recorder)
    {
        var items = new List<string>();
        while (recorder.TryDequeue(out string? item))
        {
            items.Add(item);
        }

        return items;
    }
}
