using Crac.Coordination;

namespace Crac.Hosting;

/// <summary>
/// One host's place in the checkpoint. Before it: requests (the server stops accepting and drains),
/// then background work pauses, then the application's resources run, then outbound pools close.
/// After the restore, the other way round. Requests and background work sit in the global
/// context's inbound tier and pools in its outbound tier, so they wrap every application resource,
/// whenever that was registered.
/// </summary>
internal sealed class HostStages : IDisposable
{
    public HostStages()
    {
        Pools = new Stage("outbound connection pools");
        Work = new Stage("background work");
        Requests = new Stage("the server's requests");
        Coordinator.Global.Outbound.Register(Pools);
        Coordinator.Global.Inbound.Register(Work);

        // The inbound tier checkpoints in reverse registration order: requests drain before work pauses.
        Coordinator.Global.Inbound.Register(Requests);
    }

    /// <summary>Servers: they stop accepting and drain first, and accept again last.</summary>
    public Stage Requests { get; }

    /// <summary>Hosted services and <see cref="BackgroundWork"/>: paused once requests are drained.</summary>
    public Stage Work { get; }

    /// <summary>Outbound connection pools: closed after the application's resources, reopened before them.</summary>
    public Stage Pools { get; }

    /// <summary>A stopped host takes no further part (the global context holds its stages weakly until they are collected).</summary>
    public void Dispose()
    {
        Requests.Enabled = false;
        Work.Enabled = false;
        Pools.Enabled = false;
    }

    /// <summary>A context of the host's resources, in the global context's guarantees (order, every resource notified, rollback).</summary>
    internal sealed class Stage(string name) : OrderedContext(name)
    {
        public volatile bool Enabled = true;

        // A checkpoint already known to fail (its engine's preflight refused) drains and closes nothing.
        public override Task BeforeCheckpointAsync(Context context, CancellationToken cancellationToken) =>
            Enabled && CheckpointScope.Current is not { Failing: true } ? base.BeforeCheckpointAsync(context, cancellationToken) : Task.CompletedTask;
    }
}
