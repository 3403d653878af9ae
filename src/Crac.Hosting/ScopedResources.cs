using Crac.Coordination;
using Microsoft.Extensions.DependencyInjection;

namespace Crac.Hosting;

/// <summary>
/// The <see cref="IResource"/> registrations when some are scoped or transient: for each
/// notification those are created in a DI scope of their own (so after-restore work can use a DbContext or any scoped
/// service), called in the global context's order, and the scope is disposed after.
/// </summary>
internal sealed class ScopedResources(IServiceScopeFactory scopes, IReadOnlyList<ServiceDescriptor> registrations) : IResource
{
    public Task BeforeCheckpointAsync(Context context, CancellationToken cancellationToken) => NotifyAsync(before: true, context, cancellationToken);

    public Task AfterRestoreAsync(Context context, CancellationToken cancellationToken) => NotifyAsync(before: false, context, cancellationToken);

    private async Task NotifyAsync(bool before, Context context, CancellationToken cancellationToken)
    {
        await using AsyncServiceScope scope = scopes.CreateAsyncScope();
        List<IResource> all = [.. scope.ServiceProvider.GetServices<IResource>()];
        // Every IResource registration, in registration order; singletons are the container's own instances.
        var mine = new List<IResource>(all);

        if (before)
        {
            mine.Reverse();
        }

        // Each failure becomes a suppressed exception of the pass, as for any other resource.
        if (before)
        {
            await NotifyAllAsync(mine, new ExceptionCollector<CheckpointException>(Aggregates.Checkpoint), r => r.BeforeCheckpointAsync(context, cancellationToken)).ConfigureAwait(false);
        }
        else
        {
            await NotifyAllAsync(mine, new ExceptionCollector<RestoreException>(Aggregates.Restore), r => r.AfterRestoreAsync(context, cancellationToken)).ConfigureAwait(false);
        }
    }

    private static async Task NotifyAllAsync<TException>(List<IResource> resources, ExceptionCollector<TException> failures, Func<IResource, Task> notify)
        where TException : CracException
    {
        foreach (IResource resource in resources)
        {
            try
            {
                await notify(resource).ConfigureAwait(false);
            }
            catch (Exception exception)
            {
                failures.Add(exception);
            }
        }

        failures.ThrowIfAny();
    }

    public override string ToString() => $"the container's IResource services ({registrations.Count}, some scoped or transient)";
}
