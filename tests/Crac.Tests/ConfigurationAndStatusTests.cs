using System.Collections.Concurrent;
using Crac.Configuration;
using Crac.Engines;
using Crac.Management;

namespace Crac.Tests;

[TestClass]
public sealed class ConfigurationAndStatusTests
{
    [TestInitialize]
    public void Initialize() => Simulate.CollectGarbage();

    [TestMethod]
    public void SimulateCountsARestoreAndRecordsItsTime()
    {
        CracStatus before = Core.Status;
        DateTimeOffset started = DateTimeOffset.UtcNow;

        Simulate.Checkpoint();

        CracStatus after = Core.Status;
        Assert.AreEqual("simulate", after.Engine);
        Assert.AreEqual(Checkpointability.Ready, after.Checkpointability);
        Assert.AreEqual(before.Generation + 1, after.Generation);
        Assert.IsNotNull(after.RestoreTime);
        Assert.IsTrue(after.RestoreTime >= started);
        Assert.IsNotNull(after.UptimeSinceRestore);
        Assert.AreEqual("restored", after.LastCheckpointOutcome);
        Assert.IsNull(after.LastCheckpointError);
    }

    [TestMethod]
    public void StatusSaysReadyLaterWhileACheckpointRuns()
    {
        using var entered = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var slow = new DelegateResource(() => { entered.Set(); release.Wait(TimeSpan.FromSeconds(10)); }, () => { });
        Core.GlobalContext.Register(slow);

        Task checkpoint = Task.Run(() => Simulate.Checkpoint());
        Assert.IsTrue(entered.Wait(TimeSpan.FromSeconds(10)));
        CracStatus during = Core.Status;
        release.Set();
        checkpoint.GetAwaiter().GetResult();

        Assert.AreEqual(Checkpointability.ReadyLater, during.Checkpointability);
        StringAssert.Contains(during.Reason, "before-checkpoint");
        Assert.AreEqual(Checkpointability.Ready, Core.Status.Checkpointability);
        GC.KeepAlive(slow);
    }

    [TestMethod]
    public void AnUnknownEngineIsAClearErrorAndNoResourceIsNotified()
    {
        var recorder = new ConcurrentQueue<string>();
        var resource = new RecordingResource(recorder, "r");
        Core.GlobalContext.Register(resource);

        CheckpointException failure = Assert.ThrowsExactly<CheckpointException>(() => Core.CheckpointRestoreAsync(new CheckpointOptions { Engine = "warp" }).GetAwaiter().GetResult());

        Assert.AreEqual("Unknown checkpoint engine 'warp'. The engines are: simulate, criu, pause.", failure.Suppressed.Single().Message);
        Assert.IsEmpty(recorder);
        GC.KeepAlive(resource);
    }

    [TestMethod]
    public void AnUnknownEngineOptionIsNamedWithTheValidOnes()
    {
        var error = Assert.ThrowsExactly<ArgumentException>(
            () => CheckpointSettings.Resolve(new CheckpointOptions { Engine = "criu", ImageDirectory = "/tmp/x", EngineOptions = "leave-runing=true" }));

        StringAssert.Contains(error.Message, "Unknown engine option 'leave-runing' for the criu engine. Its options are: ");
        StringAssert.Contains(error.Message, "file-locks");
    }

    [TestMethod]
    public void AMalformedEngineOptionValueNamesTheOptionAndTheExpectedType()
    {
        var error = Assert.ThrowsExactly<ArgumentException>(
            () => CheckpointSettings.Resolve(new CheckpointOptions { Engine = "criu", ImageDirectory = "/tmp/x", EngineOptions = "log-level=loud" }));

        Assert.AreEqual("Engine option 'log-level' of the criu engine expects an int, but got 'loud'.", error.Message);
    }

    [TestMethod]
    public void TheHeapIsCompactedByDefaultWhenTheProcessExitsWithTheDumpButNotWhenItKeepsRunning()
    {
        static bool Compacts(string? engineOptions, bool keepRunning)
        {
            ResolvedCheckpointOptions resolved = CheckpointSettings.Resolve(
                new CheckpointOptions { Engine = "criu", ImageDirectory = "/tmp/x", EngineOptions = engineOptions, KeepRunning = keepRunning });
            return resolved.Engine.CompactsHeap(resolved.EngineOptions, resolved.KeepRunning);
        }

        Assert.IsTrue(Compacts(null, keepRunning: false), "a smaller image for a process that exits");
        Assert.IsFalse(Compacts(null, keepRunning: true), "no compacting pause in a kept-running process's freeze");
        Assert.IsTrue(Compacts("compact-heap=true", keepRunning: true));
        Assert.IsFalse(Compacts("compact-heap=false", keepRunning: false));
        var error = Assert.ThrowsExactly<ArgumentException>(() => Compacts("compact-heap=sometimes", keepRunning: false));
        Assert.AreEqual("Engine option 'compact-heap' of the criu engine expects auto, true or false, but got 'sometimes'.", error.Message);
    }

    [TestMethod]
    public void ADryRunAsksTheEngineWhatWouldFailTooAndRollsBack()
    {
        var recorder = new ConcurrentQueue<string>();
        var resource = new RecordingResource(recorder, "r");
        Core.GlobalContext.Register(resource);
        string image = Path.Combine(Path.GetTempPath(), $"crac-dry-{Guid.NewGuid():N}");

        // Well-typed, but a value the criu engine refuses: only the engine's preflight can tell.
        CheckpointException failure = Assert.ThrowsExactly<CheckpointException>(() => Core.CheckpointRestoreAsync(
            new CheckpointOptions { Engine = "criu", ImageDirectory = image, EngineOptions = "shell-job=maybe", DryRun = true }).GetAwaiter().GetResult());

        CollectionAssert.Contains(
            failure.Suppressed.Select(e => e.Message).ToList(), "Engine option 'shell-job' of the criu engine expects auto, true or false, but got 'maybe'.");
        CollectionAssert.AreEqual(new[] { "r-before", "r-after" }, recorder.ToArray());
        Assert.IsFalse(Directory.Exists(image), "a dry run writes no image");
        GC.KeepAlive(resource);
    }

    [TestMethod]
    public void AnEngineWithoutOptionsRefusesAny()
    {
        var error = Assert.ThrowsExactly<ArgumentException>(
            () => CheckpointSettings.Resolve(new CheckpointOptions { Engine = "simulate", EngineOptions = "speed=fast" }));

        Assert.AreEqual("Unknown engine option 'speed': the simulate engine takes no options.", error.Message);
    }

    [TestMethod]
    public void TheHelpListingGivesEveryEngineItsOptionsTypesAndDefaults()
    {
        string help = CheckpointOptions.GetEngineHelp();

        foreach (CheckpointEngine engine in CheckpointEngines.All)
        {
            StringAssert.Contains(help, $"{engine.Name} engine: ");
            foreach (EngineOptionDefinition option in engine.OptionDefinitions)
            {
                StringAssert.Matches(help, new System.Text.RegularExpressions.Regex($@"\n  {option.Name} +{option.TypeName} +default "));
            }
        }

        StringAssert.Contains(CheckpointOptions.GetEngineHelp("simulate"), "(no options)");
        Assert.ThrowsExactly<ArgumentException>(() => CheckpointOptions.GetEngineHelp("warp"));
    }

    [TestMethod]
    public void OptionsComeFromCodeThenTheEnvironmentThenDefaults()
    {
        using var environment = new EnvironmentScope(
            ("CRAC_ENGINE", "pause"), ("CRAC_CHECKPOINT_TO", "/tmp/from-env"), ("CRAC_CHECKPOINT_TIMEOUT", "1500ms"), ("CRAC_ENGINE_OPTIONS", null));

        ResolvedCheckpointOptions fromEnvironment = CheckpointSettings.Resolve(null);
        ResolvedCheckpointOptions fromCode = CheckpointSettings.Resolve(new CheckpointOptions { Engine = "simulate", Timeout = TimeSpan.FromSeconds(3) });

        Assert.AreEqual("pause", fromEnvironment.Engine.Name);
        Assert.AreEqual("/tmp/from-env", fromEnvironment.ImageDirectory);
        Assert.AreEqual(TimeSpan.FromMilliseconds(1500), fromEnvironment.Timeout);
        Assert.AreEqual("simulate", fromCode.Engine.Name);
        Assert.AreEqual(TimeSpan.FromSeconds(3), fromCode.Timeout);
    }

    [TestMethod]
    [DataRow("30", 30_000d)]
    [DataRow("30s", 30_000d)]
    [DataRow("250ms", 250d)]
    [DataRow("2m", 120_000d)]
    [DataRow("00:00:05", 5_000d)]
    public void TimeoutsParseInTheUsualUnits(string text, double milliseconds) =>
        Assert.AreEqual(TimeSpan.FromMilliseconds(milliseconds), CracSettings.ParseTimeout(text, "CRAC_CHECKPOINT_TIMEOUT"));

    [TestMethod]
    public void AMalformedTimeoutNamesItsSource()
    {
        var error = Assert.ThrowsExactly<ArgumentException>(() => CracSettings.ParseTimeout("soon", "CRAC_CHECKPOINT_TIMEOUT"));
        StringAssert.StartsWith(error.Message, "CRAC_CHECKPOINT_TIMEOUT='soon' is not a timeout");
    }

    [TestMethod]
    public void AnImageEngineWithoutAnImageDirectorySaysHowToGiveOne()
    {
        using var environment = new EnvironmentScope(("CRAC_CHECKPOINT_TO", null));

        var error = Assert.ThrowsExactly<ArgumentException>(() => CheckpointSettings.Resolve(new CheckpointOptions { Engine = "pause" }));

        StringAssert.Contains(error.Message, "CRAC_CHECKPOINT_TO");
    }

    [TestMethod]
    public void KeepRunningIsRefusedByAnEngineThatCannot()
    {
        var error = Assert.ThrowsExactly<ArgumentException>(
            () => CheckpointSettings.Resolve(new CheckpointOptions { Engine = "pause", ImageDirectory = "/tmp/x", KeepRunning = true }));

        StringAssert.Contains(error.Message, "cannot keep the process running");
    }
}

/// <summary>Sets environment variables for one test and puts the old values back.</summary>
internal sealed class EnvironmentScope : IDisposable
{
    private readonly List<(string Name, string? Value)> _saved = [];

    public EnvironmentScope(params (string Name, string? Value)[] variables)
    {
        foreach ((string name, string? value) in variables)
        {
            _saved.Add((name, Environment.GetEnvironmentVariable(name)));
            Environment.SetEnvironmentVariable(name, value);
        }
    }

    public void Dispose()
    {
        foreach ((string name, string? value) in _saved)
        {
            Environment.SetEnvironmentVariable(name, value);
        }
    }
}
