using System.Collections.Concurrent;
using Crac.Engines;

namespace Crac.Tests;

/// <summary>The pause engine in-process: it stops at the coordination point until something wakes it.</summary>
[TestClass]
public sealed class PauseEngineTests
{
    [TestInitialize]
    public void Initialize() => Simulate.CollectGarbage();

    [TestMethod]
    public async Task PauseWritesItsPidPrivatelyWaitsAndResumesWithTheRestorersEnvironmentAndArguments()
    {
        string directory = Path.Combine(Path.GetTempPath(), "crac-pause-" + Guid.NewGuid().ToString("N"));
        var recorder = new ConcurrentQueue<string>();
        var resource = new RecordingResource(recorder, "r");
        Core.GlobalContext.Register(resource);
        string[]? receivedArguments = null;
        Core.SetRestoreEntryPoint(arguments =>
        {
            receivedArguments = arguments;
            return Task.CompletedTask;
        });
        int generation = Core.Status.Generation;
        try
        {
            Task checkpoint = Core.CheckpointRestoreAsync(new CheckpointOptions { Engine = "pause", ImageDirectory = directory });
            string pidFile = Path.Combine(directory, PauseEngine.PidFileName);
            await WaitUntilAsync(() => File.Exists(pidFile) && File.ReadAllText(pidFile).Length > 0);

            Assert.AreEqual($"{Environment.ProcessId}\n", File.ReadAllText(pidFile));
            Assert.AreEqual(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(directory));
            Assert.AreEqual(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(pidFile));
            Assert.IsFalse(checkpoint.IsCompleted, "a paused checkpoint waits to be woken");
            CollectionAssert.AreEqual(new[] { "r-before" }, recorder.Drain());

            var environment = new Dictionary<string, string> { ["CRAC_TEST_RESTORED_VARIABLE"] = "from-restorer" };
            Assert.IsTrue(RestoreGate.TrySignal(new RestoreSignal(
                ResumeKind.Restored, new RestoreContext(environment, ["--port", "8081"], DateTimeOffset.UtcNow))));
            await checkpoint;

            CollectionAssert.AreEqual(new[] { "r-after" }, recorder.Drain());
            Assert.AreEqual("from-restorer", Environment.GetEnvironmentVariable("CRAC_TEST_RESTORED_VARIABLE"));
            CollectionAssert.AreEqual(new[] { "--port", "8081" }, receivedArguments);
            Assert.AreEqual(generation + 1, Core.Status.Generation);
            Assert.IsFalse(File.Exists(pidFile), "the pid file goes once the process is resumed");
        }
        finally
        {
            Core.SetRestoreEntryPoint(null);
            Environment.SetEnvironmentVariable("CRAC_TEST_RESTORED_VARIABLE", null);
            Directory.Delete(directory, recursive: true);
            GC.KeepAlive(resource);
        }
    }

    [TestMethod]
    public async Task NewArgumentsWithoutARestoreEntryPointAreARestoreException()
    {
        string directory = Path.Combine(Path.GetTempPath(), "crac-pause-" + Guid.NewGuid().ToString("N"));
        try
        {
            Task checkpoint = Core.CheckpointRestoreAsync(new CheckpointOptions { Engine = "pause", ImageDirectory = directory });
            await WaitUntilAsync(() => RestoreGate.IsArmed);
            RestoreGate.TrySignal(new RestoreSignal(ResumeKind.Restored, new RestoreContext(null, ["extra"], null)));

            RestoreException failure = await Assert.ThrowsExactlyAsync<RestoreException>(() => checkpoint);
            StringAssert.Contains(failure.Suppressed.Single().Message, "no restore entry point");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [TestMethod]
    public async Task AnImageDirectoryOwnedByNobodyElseButHoldingForeignFilesIsRefused()
    {
        string directory = Path.Combine(Path.GetTempPath(), "crac-pause-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "notes.txt"), "mine");
        try
        {
            CheckpointException failure = await Assert.ThrowsExactlyAsync<CheckpointException>(
                () => Core.CheckpointRestoreAsync(new CheckpointOptions { Engine = "pause", ImageDirectory = directory }));

            StringAssert.Contains(failure.Suppressed.Single().Message, "is not empty and not a dotnet-crac image (it holds notes.txt)");
            Assert.IsTrue(File.Exists(Path.Combine(directory, "notes.txt")), "a refused checkpoint must not delete anything");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!condition())
        {
            await Task.Delay(10, timeout.Token);
        }
    }
}
