namespace Crac.Coordination;

/// <summary>
/// The global context: the application's resources first, then the runtime's own (the agent's,
/// then file-descriptor handling, which must see what the others left open). Checkpoint runs
/// the tiers in that order, restore in the opposite one.
/// </summary>
internal sealed class GlobalContext : Context
{
    private readonly OrderedContext[] _tiers;

    public GlobalContext()
    {
        Application = new OrderedContext("the global context");
        Agent = new OrderedContext("the agent's context");
        FileDescriptors = new OrderedContext("the file-descriptor context");
        _tiers = [Application, Agent, FileDescriptors];
    }

    public OrderedContext Application { get; }

    public OrderedContext Agent { get; }

    public OrderedContext FileDescriptors { get; }

    public override void Register(IResource resource) => Application.Register(resource);

    public override async Task BeforeCheckpointAsync(Context context, CancellationToken cancellationToken)
    {
        var failures = new ExceptionCollector<CheckpointException>(Aggregates.Checkpoint);
        foreach (OrderedContext tier in _tiers)
        {
            if (CheckpointScope.Current is { } scope)
            {
                scope.Failing = scope.PreflightFailed || failures.HasException;
            }

            try
            {
                await tier.BeforeCheckpointAsync(this, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception exception)
            {
                failures.Add(exception);
            }
        }

        failures.ThrowIfAny();
    }

    public override async Task AfterRestoreAsync(Context context, CancellationToken cancellationToken)
    {
        var failures = new ExceptionCollector<RestoreException>(Aggregates.Restore);
        for (int i = _tiers.Length - 1; i >= 0; i--)
        {
            try
            {
                await _tiers[i].AfterRestoreAsync(this, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception exception)
            {
                failures.Add(exception);
            }
        }

        failures.ThrowIfAny();
    }

    public override string ToString() => "the global context";
}
