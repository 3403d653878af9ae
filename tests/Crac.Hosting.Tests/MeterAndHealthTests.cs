using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace Crac.Hosting.Tests;

[TestClass]
public sealed class MeterAndHealthTests
{
    [TestMethod]
    public async Task TheCracMeterIsSeenByAMeterListenerWithTheRightValues()
    {
        HostApplicationBuilder builder = Host.CreateApplicationBuilder();
        builder.Services.AddCrac();
        using IHost host = builder.Build();
        await host.StartAsync();
        var factory = host.Services.GetRequiredService<IMeterFactory>();
        var measurements = new List<(string Instrument, double Value, Dictionary<string, object?> Tags)>();
        using var listener = new MeterListener
        {
            // This host's meter only: other hosts of the test process have theirs.
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == "Crac" && ReferenceEquals(instrument.Meter.Scope, factory))
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            lock (measurements)
            {
                measurements.Add((instrument.Name, value, new Dictionary<string, object?>(tags.ToArray())));
            }
        }

        listener.SetMeasurementEventCallback<long>((i, v, t, _) => Record(i, v, t));
        listener.SetMeasurementEventCallback<int>((i, v, t, _) => Record(i, v, t));
        listener.SetMeasurementEventCallback<double>((i, v, t, _) => Record(i, v, t));
        listener.Start();
        int generationBefore = Core.Status.Generation;

        Coordination.CheckpointReport report = await Checkpoints.SimulateAsync();
        listener.RecordObservableInstruments();

        Assert.AreEqual(Coordination.CheckpointOutcome.Restored, report.Outcome, Checkpoints.Describe(report));
        var checkpoints = measurements.Single(m => m.Instrument == "crac.checkpoints");
        Assert.AreEqual(1, checkpoints.Value);
        Assert.AreEqual("restored", checkpoints.Tags["crac.outcome"]);
        Assert.AreEqual("simulate", checkpoints.Tags["crac.engine"]);
        Assert.AreEqual(1, measurements.Single(m => m.Instrument == "crac.restores").Value);
        var phases = measurements.Where(m => m.Instrument == "crac.phase.duration").ToDictionary(m => (string)m.Tags["crac.phase"]!, m => m.Value);
        CollectionAssert.AreEquivalent(new[] { "before-checkpoint", "simulated-checkpoint", "after-restore" }, phases.Keys.ToArray());
        foreach (Coordination.PhaseTiming phase in report.Phases)
        {
            Assert.AreEqual(phase.Duration.TotalSeconds, phases[Diagnostics.WireNames.Of(phase.Phase)], 1e-9, "the histogram records each phase as the report times it, in seconds");
        }

        Assert.IsTrue(measurements.Single(m => m.Instrument == "crac.restore.duration").Value >= 0);
        Assert.AreEqual("restored", measurements.Single(m => m.Instrument == "crac.last_outcome").Tags["crac.outcome"]);
        Assert.AreEqual(generationBefore + 1, measurements.Single(m => m.Instrument == "crac.generation").Value);

        // A failed checkpoint is counted as failed, and becomes the last outcome.
        var failing = new ThrowingResource();
        Core.GlobalContext.Register(failing);
        measurements.Clear();
        Coordination.CheckpointReport failed = await Checkpoints.SimulateAsync();
        listener.RecordObservableInstruments();
        GC.KeepAlive(failing);
        failing.Throw = false;

        Assert.AreEqual(Coordination.CheckpointOutcome.Failed, failed.Outcome);
        Assert.AreEqual("failed", measurements.Single(m => m.Instrument == "crac.checkpoints").Tags["crac.outcome"]);
        Assert.IsFalse(measurements.Any(m => m.Instrument == "crac.restores"), "a failed checkpoint is no restore");
        Assert.AreEqual("failed", measurements.Single(m => m.Instrument == "crac.last_outcome").Tags["crac.outcome"]);
        await host.StopAsync();
    }

    [TestMethod]
    public async Task TheHealthCheckReportsCheckpointability()
    {
        HostApplicationBuilder builder = Host.CreateApplicationBuilder();
        builder.Services.AddCrac();
        using IHost host = builder.Build();
        var health = host.Services.GetRequiredService<HealthCheckService>();

        HealthReport ready = await health.CheckHealthAsync();
        string? engine = Environment.GetEnvironmentVariable("CRAC_ENGINE");
        Environment.SetEnvironmentVariable("CRAC_ENGINE", "no-such-engine");
        HealthReport notReady;
        try
        {
            notReady = await health.CheckHealthAsync();
        }
        finally
        {
            Environment.SetEnvironmentVariable("CRAC_ENGINE", engine);
        }

        Assert.AreEqual(HealthStatus.Healthy, ready.Entries["crac"].Status);
        Assert.AreEqual("simulate", ready.Entries["crac"].Data["engine"]);
        Assert.AreEqual(HealthStatus.Degraded, notReady.Entries["crac"].Status);
        StringAssert.Contains(notReady.Entries["crac"].Description, "no-such-engine");
    }

    private sealed class ThrowingResource : IResource
    {
        public bool Throw { get; set; } = true;

        public Task BeforeCheckpointAsync(Context context, CancellationToken cancellationToken) =>
            Throw ? throw new InvalidOperationException("not now") : Task.CompletedTask;

        public Task AfterRestoreAsync(Context context, CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
