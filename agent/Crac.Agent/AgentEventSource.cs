using System.Diagnostics.Tracing;
using Crac.Coordination;
using Crac.Diagnostics;
using Crac.Protocol;

namespace Crac.Agent;

/// <summary>
/// The agent's side of the diagnostics channel. A dotnet-crac request arrives as the provider
/// arguments of an EventPipe session that enables this source; the reply leaves as Reply events
/// on that session. The lifecycle events and counters are for anyone tracing the process.
/// </summary>
[EventSource(Name = AgentProtocol.ProviderName)]
internal sealed class AgentEventSource : EventSource
{
    public static readonly AgentEventSource Log = new();

    private readonly RequestDispatcher _dispatcher;
    private readonly SessionReaper _reaper;
    private PollingCounter? _restoreCount;
    private PollingCounter? _lastRestoreDuration;
    private PollingCounter? _uptimeSinceRestore;

    // A session that was open before this source existed enables it from inside the base
    // constructor, with its arguments: its command is kept until the fields below are set, and
    // answered at the end of the constructor. Commands are handled under this lock, one session at
    // a time, as EventSource's own lock keeps them on the runtime's thread.
    private readonly Lock _handling = new();
    private bool _constructed;
    private List<IDictionary<string, string?>?>? _enabledDuringConstruction;

    private AgentEventSource()
    {
        _dispatcher = new RequestDispatcher(this);
        _reaper = new SessionReaper(this);
        lock (_handling)
        {
            _constructed = true;
            foreach (IDictionary<string, string?>? arguments in _enabledDuringConstruction ?? [])
            {
                try
                {
                    Handle(arguments);
                }
                catch (Exception)
                {
                    // As on the runtime's thread: the source must exist, and the tool times out with a clear message.
                }
            }

            _enabledDuringConstruction = null;
        }
    }

    public static class Keywords
    {
        public const EventKeywords Reply = AgentProtocol.Keywords.Reply;
        public const EventKeywords Lifecycle = AgentProtocol.Keywords.Lifecycle;
    }

    [Event(AgentProtocol.EventIds.Reply, Level = EventLevel.Informational, Keywords = Keywords.Reply)]
    public void Reply(int protocolVersion, string requestId, int chunkIndex, int chunkCount, string chunk) =>
        WriteEvent(AgentProtocol.EventIds.Reply, protocolVersion, requestId, chunkIndex, chunkCount, chunk);

    /// <summary>Written while sessions are open: a write to a dead client's socket is what makes the runtime close it.</summary>
    [Event(AgentProtocol.EventIds.Heartbeat, Level = EventLevel.Informational, Keywords = Keywords.Reply)]
    public void Heartbeat() => WriteEvent(AgentProtocol.EventIds.Heartbeat);

    [Event(AgentProtocol.EventIds.CheckpointStarted, Level = EventLevel.Informational, Keywords = Keywords.Lifecycle)]
    public void CheckpointStarted(string checkpointId, string engine, bool dryRun) =>
        WriteEvent(AgentProtocol.EventIds.CheckpointStarted, checkpointId, engine, dryRun);

    [Event(AgentProtocol.EventIds.CheckpointPhase, Level = EventLevel.Informational, Keywords = Keywords.Lifecycle)]
    public void CheckpointPhase(string checkpointId, string phase) =>
        WriteEvent(AgentProtocol.EventIds.CheckpointPhase, checkpointId, phase);

    [Event(AgentProtocol.EventIds.CheckpointCompleted, Level = EventLevel.Informational, Keywords = Keywords.Lifecycle)]
    public void CheckpointCompleted(string engine, string outcome, int generation, string failure) =>
        WriteEvent(AgentProtocol.EventIds.CheckpointCompleted, engine, outcome, generation, failure);

    [Event(AgentProtocol.EventIds.Restored, Level = EventLevel.Informational, Keywords = Keywords.Lifecycle)]
    public void Restored(int generation, double restoreMilliseconds) =>
        WriteEvent(AgentProtocol.EventIds.Restored, generation, restoreMilliseconds);

    [NonEvent]
    public void OnCheckpointCompleted(CheckpointReport report)
    {
        if (!IsEnabled())
        {
            return;
        }

        CheckpointCompleted(report.Engine, WireNames.Of(report.Outcome), report.Generation, report.Failure?.Message ?? string.Empty);
        if (report.Outcome is CheckpointOutcome.Restored or CheckpointOutcome.RestoreFailed)
        {
            Restored(report.Generation, Coordinator.State.LastRestoreDuration?.TotalMilliseconds ?? 0);
        }
    }

    /// <summary>
    /// Runs the dispatcher's work for a status request once, answering nobody, and enables this
    /// source once in-process (see AgentHost.WarmUp). Its first enable builds the events'
    /// descriptors and EventPipe metadata by reflection, about 7 ms that the first tool's session
    /// would otherwise wait for; a listener that ignores what it hears does it ahead.
    /// </summary>
    internal void WarmUp()
    {
        _dispatcher.WarmUp();
        using var listener = new IgnoringListener();
        listener.EnableEvents(this, EventLevel.Informational, Keywords.Reply);
    }

    protected override void OnEventCommand(EventCommandEventArgs command)
    {
        if (command.Command != EventCommand.Enable)
        {
            return;
        }

        lock (_handling)
        {
            if (_constructed)
            {
                Handle(command.Arguments);
            }
            else
            {
                (_enabledDuringConstruction ??= []).Add(command.Arguments);
            }
        }
    }

    [NonEvent]
    private void Handle(IDictionary<string, string?>? sessionArguments)
    {
        CreateCounters();
        if (sessionArguments is not { } arguments || !arguments.ContainsKey(AgentProtocol.ArgumentKeys.Command))
        {
            // An ordinary session (dotnet-trace, dotnet-counters): nothing to answer.
            return;
        }

        // This runs on the runtime's EventPipe thread and the session start waits for it (or, for
        // a session older than this source, at the end of its constructor): every command here is
        // quick, and a checkpoint only gets queued.
        try
        {
            _dispatcher.Dispatch(arguments);
        }
        catch (Exception)
        {
            // Nothing may escape into the runtime's thread; the tool times out with a clear message.
        }

        _reaper.EnsureRunning();
    }

    private void CreateCounters()
    {
        _restoreCount ??= new PollingCounter("restore-count", this, () => Coordinator.State.Generation)
        {
            DisplayName = "Restores",
        };
        _lastRestoreDuration ??= new PollingCounter("last-restore-duration", this, () => Coordinator.State.LastRestoreDuration?.TotalMilliseconds ?? 0)
        {
            DisplayName = "Last restore duration",
            DisplayUnits = "ms",
        };
        _uptimeSinceRestore ??= new PollingCounter("uptime-since-restore", this, () => Coordinator.State.UptimeSinceRestore?.TotalSeconds ?? 0)
        {
            DisplayName = "Uptime since restore",
            DisplayUnits = "s",
        };
    }

    private sealed class IgnoringListener : EventListener
    {
    }
}
