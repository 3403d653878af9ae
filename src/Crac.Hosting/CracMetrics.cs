using System.Diagnostics.Metrics;
using Crac.Coordination;
using Crac.Diagnostics;

namespace Crac.Hosting;

/// <summary>
/// The <c>Crac</c> meter: what <c>dotnet-counters monitor --counters Crac</c> and OpenTelemetry's
/// <c>AddMeter("Crac")</c> read. Instruments follow OpenTelemetry's naming (seconds, dotted names).
/// </summary>
internal sealed class CracMetrics : IDisposable
{
    public const string MeterName = "Crac";

    private readonly Meter _meter;
    private readonly Counter<long> _checkpoints;
    private readonly Counter<long> _restores;
    private readonly Histogram<double> _phaseDuration;
    private readonly Histogram<double> _restoreDuration;
    private volatile string _lastOutcome = WireNames.Of(Coordinator.State.LastOutcome);

    public CracMetrics(IMeterFactory meterFactory)
    {
        _meter = meterFactory.Create(MeterName);
        _checkpoints = _meter.CreateCounter<long>("crac.checkpoints", "{checkpoint}", "Checkpoints taken by this process, by outcome (crac.outcome) and engine (crac.engine).");
        _restores = _meter.CreateCounter<long>("crac.restores", "{restore}", "Restores of this process (a restored image, or a simulated checkpoint).");
        _phaseDuration = _meter.CreateHistogram<double>("crac.phase.duration", "s", "How long each phase of a checkpoint and its restore took (crac.phase: before-checkpoint, compact-heap, checkpoint, after-restore, ...).");
        _restoreDuration = _meter.CreateHistogram<double>("crac.restore.duration", "s", "From the start of a restore to the end of its after-restore notifications.");
        _meter.CreateObservableGauge("crac.last_outcome", () => new Measurement<int>(1, new KeyValuePair<string, object?>("crac.outcome", _lastOutcome)), "{outcome}", "The last checkpoint's outcome, as the crac.outcome attribute (value always 1).");
        _meter.CreateObservableGauge("crac.generation", () => Coordinator.State.Generation, "{restore}", "How many times this process has been restored, images before it included.");
        Coordinator.Completed += OnCompleted;
    }

    private void OnCompleted(CheckpointReport report)
    {
        var engine = new KeyValuePair<string, object?>("crac.engine", report.Engine);
        string outcome = WireNames.Of(report.Outcome);
        _lastOutcome = outcome;
        _checkpoints.Add(1, engine, new KeyValuePair<string, object?>("crac.outcome", outcome));
        foreach (PhaseTiming phase in report.Phases)
        {
            _phaseDuration.Record(phase.Duration.TotalSeconds, engine, new KeyValuePair<string, object?>("crac.phase", WireNames.Of(phase.Phase)));
        }

        if (report.Outcome is CheckpointOutcome.Restored or CheckpointOutcome.RestoreFailed)
        {
            _restores.Add(1, engine);
            if (Coordinator.State.LastRestoreDuration is { } duration)
            {
                _restoreDuration.Record(duration.TotalSeconds, engine);
            }
        }
    }

    public void Dispose()
    {
        Coordinator.Completed -= OnCompleted;
        _meter.Dispose();
    }
}
