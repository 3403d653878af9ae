using System.Diagnostics;
using Crac.Configuration;
using Crac.Coordination;
using Crac.Engines;
using Crac.FileDescriptors;
using Crac.Runtime;

namespace Crac.Agent;

/// <summary>Starts the agent once per process, however many ways it was loaded.</summary>
internal static class AgentHost
{
    /// <summary>
    /// How long the agent leaves the application's start-up to itself before it creates its
    /// EventSource and installs the runtime's resources. That work (about 10 ms of CPU) would
    /// otherwise compete with the start-up for a small machine's cores: a hello world started
    /// 1.09-1.14x slower than with an empty startup hook, and 1.03x with the work left until after
    /// (docs/performance.md, row 8). Nothing waits longer for it than this: a session opened
    /// meanwhile is answered as soon as the EventSource exists, and a checkpoint the application
    /// asks for has the agent go on at once (RuntimeResources).
    /// </summary>
    private static readonly TimeSpan ApplicationStartUp = TimeSpan.FromMilliseconds(200);

    // When, after the agent started, its warm-up runs: after the application's own start-up work
    // (a hello world has exited by then), and done before an app that serves at once could be
    // checkpointed (the benchmark takes its image 300 ms after the first 200). It had run 250 ms
    // after an agent that installed everything at once, 60-150 ms after the process started.
    private static readonly TimeSpan WarmUpAt = TimeSpan.FromMilliseconds(300);

    private static readonly ManualResetEventSlim GoOnNow = new();

    private static int _started;

    /// <summary>
    /// Starts the agent, on a thread of its own (see StartupHook) unless the origins of fds are
    /// recorded. What must see the process as it started is done at once; the rest after
    /// <see cref="ApplicationStartUp"/>, or as soon as a checkpoint needs it.
    /// </summary>
    /// <param name="leaveStartUpFirst">Whether the rest waits for the application's start-up.</param>
    public static void Start(bool leaveStartUpFirst)
    {
        if (Interlocked.Exchange(ref _started, 1) != 0)
        {
            return;
        }

        long started = Stopwatch.GetTimestamp();
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        RuntimeResources.Install = () =>
        {
            GoOnNow.Set();
            return ready.Task;
        };
        try
        {
            FdClassifier.CaptureInheritedDescriptors();
            InitProcessSignals.Install();

            if (leaveStartUpFirst)
            {
                GoOnNow.Wait(ApplicationStartUp);
            }

            // Not before the wait (0.6-0.9 ms of reflection). If an older Crac lacks a type used
            // until here (RuntimeResources is new), StartupHook names it as the cause.
            if (IncompatibleCrac() is { } incompatible)
            {
                throw new InvalidOperationException(incompatible);
            }

            Coordinator.Global.Agent.Register(StackTraceSymbolCache.Instance);
            RestoreFidelityResources.Install(Path.GetDirectoryName(typeof(AgentHost).Assembly.Location));
            FileDescriptorResource.Install();
            if (FdOrigins.Enabled)
            {
                FdOrigins.Start();
            }

            // Before the report's link, as it always was, and before the EventSource exists (a
            // session opened before then is answered as it is constructed). A source that failed
            // to start must not fail the checkpoint's report.
            Coordinator.Completed += static report =>
            {
                try
                {
                    AgentEventSource.Log.OnCheckpointCompleted(report);
                }
                catch (TypeInitializationException)
                {
                }
            };
            RendezvousLink.Install();
        }
        finally
        {
            ready.TrySetResult();
        }

        // The EventSource last: every resource its commands look at is installed by now.
        _ = AgentEventSource.Log;
        TimeSpan sinceStart = Stopwatch.GetElapsedTime(started);
        _ = Task.Delay(sinceStart < WarmUpAt ? WarmUpAt - sinceStart : TimeSpan.Zero).ContinueWith(static _ => WarmUp(), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
        if (string.Equals(Environment.GetEnvironmentVariable(CracEnvironment.EngineOptions), "help", StringComparison.OrdinalIgnoreCase))
        {
            Console.Error.WriteLine(EngineHelp.Describe(null));
        }
    }

    /// <summary>
    /// Takes the first run's costs off the first checkpoint's path, in the background: the checks
    /// of `status`, the resolution of each engine's options, the parked state's JSON and the
    /// restore hand-over's, the Random layout check and the machine's snapshot. Their first run is
    /// mostly JIT compilation (about 150 ms on the first checkpoint's path here). Each is what a
    /// checkpoint or `dotnet crac status` does anyway, with no side effect. The restored process's
    /// path is rehearsed too, without its effects: the notifications on a private context, the
    /// machine's comparison, the inherited fds' look, the look for OpenSSL and the final report's
    /// JSON. A first restore spent 55-70 ms from finding itself restored to its report, a second
    /// 15 (docs/performance.md); first calls, not work. The heap walker's
    /// attach is not among them: it is a command to the process's own diagnostics server, which
    /// serves one client at a time, so it would compete with a tool's first requests; in
    /// before-checkpoint it does not wait, as the tool holds its request session open until then.
    /// </summary>
    private static void WarmUp()
    {
        // Each on its own: one that fails here (a host without a piece the checkpoint would report
        // missing) leaves the others' head start.
        Action[] steps =
        [
            RandomGenerators.Instance.WarmUp, RestoredMachine.Rehearse, FileDescriptorResource.WarmUp,
            Coordinator.RehearseNotifications, AgentEventSource.Log.WarmUp,
        ];
        foreach (Action step in steps)
        {
            try
            {
                step();
            }
            catch (Exception)
            {
                // Only a head start: the checkpoint does the same work and reports what fails.
            }
        }
    }

    /// <summary>
    /// An application that references the Crac package loads its own Crac.dll, and the agent
    /// (injected by a dotnet-crac tool) runs against it: why the agent refuses it, if it is older
    /// than the agent needs; null if it is not.
    /// </summary>
    public static string? IncompatibleCrac()
    {
        Version? needed = typeof(AgentHost).Assembly.GetReferencedAssemblies().FirstOrDefault(a => a.Name == "Crac")?.Version;
        Version? loaded = typeof(Core).Assembly.GetName().Version;
        return needed is not null && loaded is not null && loaded < needed
            ? $"this agent needs Crac {needed} but the application loads Crac {loaded} ({typeof(Core).Assembly.Location}); " +
              "update the application's Crac package, or use the dotnet-crac tool of its version"
            : null;
    }
}
