using Crac.Configuration;

namespace Crac.Coordination;

/// <summary>
/// Calls one resource under the checkpoint deadline. The call runs on a pool thread so that a
/// resource that blocks synchronously cannot hold the checkpoint past its timeout.
/// </summary>
internal static class ResourceInvoker
{
    /// <returns>False when the resource was still running after the grace period.</returns>
    public static async Task<bool> InvokeAsync(
        IResource resource, Context context, bool beforeCheckpoint, Action<Exception> onFailure)
    {
        CheckpointScope? scope = CheckpointScope.Current;
        CancellationToken token = scope?.Cancellation.Token ?? CancellationToken.None;
        string method = beforeCheckpoint ? nameof(IResource.BeforeCheckpointAsync) : nameof(IResource.AfterRestoreAsync);
        Task call = Task.Run(
            () => beforeCheckpoint
                ? resource.BeforeCheckpointAsync(context, token)
                : resource.AfterRestoreAsync(context, token),
            CancellationToken.None);

        try
        {
            if (scope is null)
            {
                await call.ConfigureAwait(false);
                return true;
            }

            await call.WaitAsync(scope.Deadline.Token).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException) when (scope is not null && scope.Deadline.IsCancellationRequested && !call.IsCompleted)
        {
            scope.TimedOut = true;
            onFailure(new TimeoutException(
                $"Resource {Describe(resource)} did not complete {method} within the checkpoint timeout of {CracSettings.FormatTimeout(scope.Limits.ResourceTimeout)}. " +
                $"Make it honour its CancellationToken, or raise the timeout ({CracEnvironment.CheckpointTimeout}, or --timeout)."));

            // It gets a grace period to honour its cancelled token; after that the checkpoint
            // gives up on it (and skips its after-restore, which would race it).
            bool finished = await Task.WhenAny(call, Task.Delay(scope.Limits.GracePeriod)).ConfigureAwait(false) == call;
            if (finished && call.Exception is { } late)
            {
                onFailure(late.InnerExceptions.Count == 1 ? late.InnerExceptions[0] : late);
            }

            return finished;
        }
        catch (Exception exception)
        {
            onFailure(exception);
            return true;
        }
    }

    /// <summary>How a resource is named in messages: its ToString, or its type when that is the default.</summary>
    public static string Describe(object resource)
    {
        string? text = resource.ToString();
        string typeName = resource.GetType().FullName ?? resource.GetType().Name;
        return string.IsNullOrEmpty(text) || text == typeName ? $"'{typeName}'" : $"'{text}' ({typeName})";
    }
}
