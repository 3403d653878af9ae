using Crac.Configuration;
using Crac.Coordination;
using Crac.Diagnostics;
using Crac.Engines;
using Crac.Engines.Criu;
using Crac.Protocol;

namespace Crac.Agent;

/// <summary>
/// A checkpoint the tool asked for. It runs on its own thread while the tool follows it through
/// short sessions that ask for its outcome. With CRIU, the process parks once it is ready and the
/// tool, once its own sessions have closed (CRIU cannot dump a process with a connected
/// diagnostics session), dumps it with the instructions the engine handed over.
/// </summary>
internal sealed class CheckpointJob : ICheckpointObserver
{
    private readonly ResolvedCheckpointOptions? _options;
    private readonly AgentEventSource _events;
    private volatile Snapshot _snapshot = new(CheckpointState.Running, CheckpointPhase.Starting, null, null);

    private readonly Rendezvous? _rendezvous;

    private CheckpointJob(string id, ResolvedCheckpointOptions? options, CheckpointLimits limits, AgentEventSource events, Rendezvous? rendezvous)
    {
        Id = id;
        _options = options;
        Limits = limits;
        _events = events;
        _rendezvous = rendezvous;
    }

    public string Id { get; }

    /// <summary>The limits this checkpoint applies, as its acceptance reports them.</summary>
    public CheckpointLimits Limits { get; }

    public bool IsFinished => _snapshot.State == CheckpointState.Done;

    /// <summary>
    /// A job for a request. Its options are resolved now, so the acceptance can state the limits;
    /// options that cannot be resolved make a job that is already done, with the refusal as its report.
    /// </summary>
    public static CheckpointJob Create(string id, CheckpointRequest request, AgentEventSource events)
    {
        CheckpointOptions options = request.ToOptions();
        Rendezvous? rendezvous = request.Rendezvous is { } path ? Rendezvous.Open(path) : null;
        try
        {
            ResolvedCheckpointOptions resolved = CheckpointSettings.Resolve(options) with { OperatorPolicies = request.Policies };
            return new CheckpointJob(id, resolved, resolved.Limits, events, rendezvous);
        }
        catch (ArgumentException exception)
        {
            var job = new CheckpointJob(id, null, CheckpointLimits.For(options.Timeout ?? CracSettings.DefaultTimeout), events, rendezvous);
            CheckpointReport refusal = Coordinator.Refuse(options.Engine ?? CracSettings.ConfiguredEngineName, options.DryRun, exception);
            job.Finish(refusal);
            if (rendezvous is not null)
            {
                RendezvousLink.Use(rendezvous);
                RendezvousLink.WriteReport(refusal);
            }

            return job;
        }
    }

    public string EngineName => _options?.Engine.Name ?? CracSettings.ConfiguredEngineName;

    public void OnPhase(CheckpointPhase phase)
    {
        Publish(CheckpointState.Running, phase, dump: null);
        _events.CheckpointPhase(Id, WireNames.Of(phase));
    }

    public void OnWaitingForDump(DumpInstructions instructions)
    {
        Publish(CheckpointState.WaitingForDump, CheckpointPhase.WaitingForDump, instructions);
        _events.CheckpointPhase(Id, WireNames.Of(CheckpointPhase.WaitingForDump));
        ReportParked();
    }

    public void OnPaused()
    {
        Publish(CheckpointState.Paused, CheckpointPhase.Paused, dump: null);
        _events.CheckpointPhase(Id, WireNames.Of(CheckpointPhase.Paused));
        ReportParked();
    }

    /// <summary>Tells the tool at the rendezvous, if it asked for one, that the process is parked.</summary>
    private void ReportParked()
    {
        if (_rendezvous is null)
        {
            return;
        }

        try
        {
            RendezvousLink.Park(_rendezvous, ToOutcome(), () => _snapshot.State is CheckpointState.WaitingForDump or CheckpointState.Paused, OnResumed);
        }
        catch (IOException)
        {
            // The rendezvous is gone: the tool follows the checkpoint over the channel instead.
        }
    }

    /// <summary>The parked checkpoint was woken: it runs again (its after-restore comes next).</summary>
    public void OnResumed()
    {
        Snapshot current = _snapshot;
        if (current.State is CheckpointState.WaitingForDump or CheckpointState.Paused)
        {
            Publish(CheckpointState.Running, current.Phase, dump: null);
        }
    }

    public OutcomeReply ToOutcome()
    {
        Snapshot snapshot = _snapshot;
        bool parked = snapshot.State is CheckpointState.WaitingForDump or CheckpointState.Paused;
        return new OutcomeReply
        {
            State = snapshot.State,
            Phase = snapshot.State == CheckpointState.Done ? null : snapshot.Phase,
            Dump = snapshot.Dump,
            Actions = parked ? Coordinator.ActionsSoFar() : null,
            Phases = parked ? [.. Coordinator.PhasesSoFar().Select(PhaseMessage.From)] : null,
            Report = snapshot.Report is { } report ? CheckpointReportMessage.From(report) : null,
        };
    }

    public void Run()
    {
        if (_options is null)
        {
            return;
        }

        _events.CheckpointStarted(Id, _options.Engine.Name, _options.DryRun);
        if (_rendezvous is not null)
        {
            RendezvousLink.Use(_rendezvous);
        }

        CheckpointReport report = Coordinator.RunAsync(_options, CheckpointTrigger.Agent, this, CancellationToken.None).GetAwaiter().GetResult();
        Finish(report);

        // A checkpoint refused before it ran raises no Completed event: its report is written here.
        RendezvousLink.WriteReport(report);
    }

    private void Finish(CheckpointReport report) => _snapshot = new Snapshot(CheckpointState.Done, null, null, report);

    private void Publish(CheckpointState state, CheckpointPhase? phase, DumpInstructions? dump) => _snapshot = new Snapshot(state, phase, dump, null);

    // One immutable record, swapped whole: a reader never sees the state of one moment with the report of another.
    private sealed record Snapshot(CheckpointState State, CheckpointPhase? Phase, DumpInstructions? Dump, CheckpointReport? Report);
}
