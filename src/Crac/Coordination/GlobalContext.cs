namespace Crac.Coordination;

/// <summary>
/// The global context, in tiers. Checkpoint runs them in this order, restore in the opposite one:
/// what brings work in (servers, background work: the hosting integration), the application's
/// resources, connections out (pools: the hosting integration), then the runtime's own (the
/// agent's, then file-descriptor handling, which must see what the others left open). So requests
/// are drained before the application's resources close what the requests use, and pools close
/// after those resources (which may still flush through them) and reopen before them. The agent's
/// tier (the machine's view, Random's reseed, the hosts' configuration) are independent of each
/// other and on the path to a restored server's first response, so they are told of a restore
/// all at once: the tiers after it still wait for all of them.
/// </summary>
internal sealed class GlobalContext : Context
{
    private readonly OrderedContext[] _tiers;

    public GlobalContext()
    {
        Inbound = new OrderedContext("the inbound context (servers and background work)");
        Application = new OrderedContext("the global context");
        Outbound = new OrderedContext("the outbound context (connection pools)");
        Agent = new OrderedContext("the agent's context", restoreConcurrently: true);
        FileDescriptors = new OrderedContext("the file-descriptor context");
        _tiers = [Inbound, Application, Outbound, Agent, FileDescriptors];
    }

    /// <summary>Servers and background work: they stop taking work first and take it again last.</summary>
    public OrderedContext Inbound { get; }

    public OrderedContext Application { get; }

    /// <summary>Outbound connection pools: closed after the application's resources, reopened before them.</summary>
    public OrderedContext Outbound { get; }

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
