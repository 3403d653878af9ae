using Crac.Coordination;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Crac.Hosting.Tests;

[TestClass]
public sealed class OrderAndDiscoveryTests
{
    [TestMethod]
    public async Task TheContainersResourcesAreFoundAndNotifiedBetweenBackgroundWorkAndThePools()
    {
        var log = new Journal();
        HostApplicationBuilder builder = Host.CreateApplicationBuilder();
        builder.Services.AddSingleton(log);
        builder.Services.AddCrac();
        builder.Services.AddSingleton<IResource>(new Named(log, "singleton-as-resource"));
        builder.Services.AddSingleton<Cache>();
        builder.Services.AddScoped<IResource, ScopedWork>();
        builder.Services.AddHostedService<PausingService>();
        using IHost host = builder.Build();
        await host.StartAsync();
        _ = host.Services.GetRequiredService<Cache>();

        CheckpointReport report = await Checkpoints.SimulateAsync();

        Assert.AreEqual(CheckpointOutcome.Restored, report.Outcome, Checkpoints.Describe(report));
        // Background work first, then the application's resources in reverse registration order
        // (the IResource registrations, some scoped, as one group at the first one's place, each
        // notification in a scope of its own), then after the restore the opposite.
        CollectionAssert.AreEqual(
            new[]
            {
                "pausing-service before", "cache before", "scoped#1 before", "singleton-as-resource before", "disposed scoped#1",
                "singleton-as-resource after", "scoped#2 after", "disposed scoped#2", "cache after", "pausing-service after",

            },
            log.Entries.ToArray(),
            string.Join(", ", log.Entries));
        StringAssert.Contains(string.Join('\n', report.Actions.Select(a => a.Description)), "background work paused (");
        await host.StopAsync();
    }

    [TestMethod]
    public async Task ARunningUnitOfBackgroundWorkDelaysTheCheckpointAndNewOnesWaitForTheRestore()
    {
        HostApplicationBuilder builder = Host.CreateApplicationBuilder();
        builder.Services.AddCrac();
        using IHost host = builder.Build();
        await host.StartAsync();
        var work = host.Services.GetRequiredService<BackgroundWork>();
        var observer = new Observer();
        Core.GlobalContext.Register(observer);

        BackgroundWork.Scope running = await work.BeginAsync();
        Task<CheckpointReport> checkpoint = Checkpoints.SimulateAsync();
        await Task.Delay(300);
        Assert.IsFalse(checkpoint.IsCompleted, "the checkpoint waits for the unit in progress");
        Assert.IsFalse(observer.Notified, "the application's resources run only once background work is paused");
        ValueTask<BackgroundWork.Scope> waiting = work.BeginAsync();
        running.Dispose();
        await ProcessWaits.UntilAsync(() => observer.Notified, "the application's resources to be notified");
        await Task.Delay(100);
        Assert.IsFalse(waiting.IsCompleted, "a unit begun during the checkpoint waits for the restore");
        observer.Release.SetResult();

        CheckpointReport report = await checkpoint;
        (await waiting).Dispose();

        Assert.AreEqual(CheckpointOutcome.Restored, report.Outcome, Checkpoints.Describe(report));
        StringAssert.Contains(string.Join('\n', report.Actions.Select(a => a.Description)), "background work paused (");
        GC.KeepAlive(observer);
        await host.StopAsync();
    }

    [TestMethod]
    public async Task AUnitThatOverrunsTheTimeoutFailsTheCheckpointAndTheWorkGoesOn()
    {
        HostApplicationBuilder builder = Host.CreateApplicationBuilder();
        builder.Services.AddCrac();
        using IHost host = builder.Build();
        await host.StartAsync();
        var work = host.Services.GetRequiredService<BackgroundWork>();

        using (await work.BeginAsync())
        {
            CheckpointReport report = await Checkpoints.SimulateAsync(TimeSpan.FromMilliseconds(500));

            Assert.AreEqual(CheckpointOutcome.Failed, report.Outcome);
            StringAssert.Contains(report.Failure!.ToString(), "Checkpoint gate 'background work (BackgroundWork)' could not close: 1 unit of work was still inside it");
        }

        using var next = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        (await work.BeginAsync(next.Token)).Dispose();
        await host.StopAsync();
    }

    internal sealed class Journal
    {
        private readonly List<string> _entries = [];

        public IReadOnlyList<string> Entries
        {
            get
            {
                lock (_entries)
                {
                    return [.. _entries];
                }
            }
        }

        public void Add(string entry)
        {
            lock (_entries)
            {
                _entries.Add(entry);
            }
        }
    }

    private class Named(Journal log, string name) : IResource
    {
        public Task BeforeCheckpointAsync(Context context, CancellationToken cancellationToken)
        {
            log.Add(name + " before");
            return Task.CompletedTask;
        }

        public Task AfterRestoreAsync(Context context, CancellationToken cancellationToken)
        {
            log.Add(name + " after");
            return Task.CompletedTask;
        }
    }

    private sealed class Cache(Journal log) : Named(log, "cache");

    private sealed class ScopedWork : IResource, IDisposable
    {
        private static int _instances;
        private readonly Journal _log;
        private readonly string _name;

        public ScopedWork(Journal log)
        {
            _log = log;
            _name = "scoped#" + Interlocked.Increment(ref _instances);
        }

        public Task BeforeCheckpointAsync(Context context, CancellationToken cancellationToken)
        {
            _log.Add(_name + " before");
            return Task.CompletedTask;
        }

        public Task AfterRestoreAsync(Context context, CancellationToken cancellationToken)
        {
            _log.Add(_name + " after");
            return Task.CompletedTask;
        }

        public void Dispose() => _log.Add("disposed " + _name);
    }

    private sealed class PausingService(Journal log) : BackgroundService, IResource
    {
        protected override Task ExecuteAsync(CancellationToken stoppingToken) => Task.Delay(Timeout.Infinite, stoppingToken);

        public Task BeforeCheckpointAsync(Context context, CancellationToken cancellationToken)
        {
            log.Add("pausing-service before");
            return Task.CompletedTask;
        }

        public Task AfterRestoreAsync(Context context, CancellationToken cancellationToken)
        {
            log.Add("pausing-service after");
            return Task.CompletedTask;
        }
    }

    private sealed class Observer : IResource
    {
        public volatile bool Notified;

        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task BeforeCheckpointAsync(Context context, CancellationToken cancellationToken)
        {
            Notified = true;
            return Release.Task;
        }

        public Task AfterRestoreAsync(Context context, CancellationToken cancellationToken) => Task.CompletedTask;
    }
}

internal static class ProcessWaits
{
    public static async Task UntilAsync(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        while (!condition())
        {
            if (stopwatch.Elapsed > (timeout ?? TimeSpan.FromSeconds(10)))
            {
                throw new TimeoutException($"Timed out waiting for {what}.");
            }

            await Task.Delay(10);
        }
    }
}
