using System.Diagnostics;
using System.Runtime;
using Crac.Configuration;
using Crac.Diagnostics;
using Crac.Engines;
using Crac.Interop;

namespace Crac.Coordination;

/// <summary>
/// Runs a checkpoint: before-checkpoint notification (which includes the file-descriptor checks,
/// the last tier of the global context), the engine, then after-restore notification, which
/// runs for every notified resource whether the checkpoint succeeded or not.
/// </summary>
internal static class Coordinator
{
    private static int _running;
    private static Func<string[], Task>? _restoreEntryPoint;

    public static GlobalContext Global { get; } = new();

    public static CracState State { get; } = new();

    public static bool IsRunning => Volatile.Read(ref _running) != 0;

    private static CheckpointScope? _runningScope;

    /// <summary>What the running checkpoint has done automatically so far (empty when none runs): a parked process reports it before it is imaged.</summary>
    public static IReadOnlyList<CheckpointAction> ActionsSoFar() => SoFar(scope => scope.Actions);

    /// <summary>The running checkpoint's phases finished so far (empty when none runs): a parked process reports them, since it may not report again.</summary>
    public static IReadOnlyList<PhaseTiming> PhasesSoFar() => SoFar(scope => scope.Phases);

    // A copy of one of the running checkpoint's lists, taken under the lock its writers hold.
    private static IReadOnlyList<T> SoFar<T>(Func<CheckpointScope, List<T>> list)
    {
        if (Volatile.Read(ref _runningScope) is not { } scope)
        {
            return [];
        }

        List<T> items = list(scope);
        lock (items)
        {
            return [.. items];
        }
    }

    /// <summary>Raised after every checkpoint, with its report (the agent's events and counters).</summary>
    public static event Action<CheckpointReport>? Completed;

    public static void SetRestoreEntryPoint(Func<string[], Task>? entryPoint) => _restoreEntryPoint = entryPoint;

    /// <summary>Resolves the options (code, environment, defaults), then runs the checkpoint.</summary>
    public static Task<CheckpointReport> RunAsync(
        CheckpointOptions? options, CheckpointTrigger trigger, ICheckpointObserver? observer, CancellationToken cancellationToken)
    {
        ResolvedCheckpointOptions resolved;
        try
        {
            resolved = CheckpointSettings.Resolve(options);
        }
        catch (ArgumentException exception)
        {
            return Task.FromResult(Refuse(options?.Engine ?? CracSettings.ConfiguredEngineName, options?.DryRun ?? false, exception));
        }

        return RunAsync(resolved, trigger, observer, cancellationToken);
    }

    public static async Task<CheckpointReport> RunAsync(
        ResolvedCheckpointOptions options, CheckpointTrigger trigger, ICheckpointObserver? observer, CancellationToken cancellationToken)
    {
        if (CheckpointScope.Current is not null)
        {
            return Refused(options.Engine.Name, options.DryRun, new InvalidOperationException(
                "Recursive checkpoint is not allowed: a resource asked for a checkpoint while one is running."));
        }

        if (Interlocked.CompareExchange(ref _running, 1, 0) != 0)
        {
            return Refused(options.Engine.Name, options.DryRun, new InvalidOperationException(
                "A checkpoint is already in progress; wait for it to finish and try again."));
        }

        try
        {
            await RuntimeResources.WhenInstalled().ConfigureAwait(false);

            return await RunResolvedAsync(options, trigger, new PhaseTracker(observer), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            State.CurrentPhase = null;
            Volatile.Write(ref _running, 0);
        }
    }

    /// <summary>A checkpoint whose options could not be resolved: recorded as failed, and nothing is notified.</summary>
    public static CheckpointReport Refuse(string engineName, bool dryRun, ArgumentException reason)
    {
        State.RecordOutcome(DateTimeOffset.UtcNow, engineName, CheckpointOutcome.Failed, reason.Message.Split('\n')[0]);
        return Refused(engineName, dryRun, reason);
    }

    private static async Task<CheckpointReport> RunResolvedAsync(
        ResolvedCheckpointOptions options, CheckpointTrigger trigger, PhaseTracker observer, CancellationToken cancellationToken)
    {
        DateTimeOffset startedAt = DateTimeOffset.UtcNow;
        var checkpointFailures = new ExceptionCollector<CheckpointException>(Aggregates.Checkpoint);
        var restoreFailures = new ExceptionCollector<RestoreException>(Aggregates.Restore);
        EngineResult? engineResult = null;

        // The engine settles how it takes the image first: the fd checks judge by it.
        EnginePlan plan = options.Engine.Preflight(options, trigger);
        CheckpointScope scope = CheckpointScope.Enter(options.Limits, options.DryRun, cancellationToken);
        scope.Capabilities = plan.Capabilities;
        scope.OperatorPolicies = options.OperatorPolicies;
        scope.PreflightFailed = plan.Problems.Count > 0;
        Volatile.Write(ref _runningScope, scope);
        List<PhaseTiming> phases = scope.Phases;

        async Task TimePhaseAsync(CheckpointPhase phase, Func<Task> body)
        {
            observer.OnPhase(phase);
            long started = Stopwatch.GetTimestamp();
            try
            {
                await body().ConfigureAwait(false);
            }
            finally
            {
                lock (phases)
                {
                    phases.Add(new PhaseTiming(phase, Stopwatch.GetElapsedTime(started)));
                }
            }
        }

        try
        {
            scope.InBeforeCheckpoint = true;
            if (!options.DryRun && !scope.PreflightFailed)
            {
                RestoreSignals.CheckpointStarting();
            }

            await TimePhaseAsync(CheckpointPhase.BeforeCheckpoint, async () =>
            {
                try
                {
                    await Global.BeforeCheckpointAsync(Global, scope.Cancellation.Token).ConfigureAwait(false);
                }
                catch (Exception exception)
                {
                    checkpointFailures.Add(exception);
                }
            }).ConfigureAwait(false);

            foreach (Exception problem in plan.Problems)
            {
                checkpointFailures.Add(problem);
            }

            if (!checkpointFailures.HasException && !options.DryRun)
            {
                if (options.Engine.CompactsHeap(options.EngineOptions, options.KeepRunning))
                {
                    await TimePhaseAsync(CheckpointPhase.CompactHeap, () =>
                    {
                        CompactAndTrimHeap();
                        return Task.CompletedTask;
                    }).ConfigureAwait(false);
                }

                await TimePhaseAsync(options.Engine.TakesImage ? CheckpointPhase.Checkpoint : CheckpointPhase.SimulatedCheckpoint, async () =>
                {
                    var request = new EngineRequest(options, plan, trigger, State.Generation, scope.FdSummary, observer, scope.Deadline.Token);
                    engineResult = await options.Engine.CheckpointAsync(request).ConfigureAwait(false);
                }).ConfigureAwait(false);

                if (engineResult!.Failure is { } failure)
                {
                    checkpointFailures.Add(failure);
                }

                if (engineResult.Kind == EngineResultKind.Restored)
                {
                    scope.Restored = true;
                    State.RecordRestore(engineResult.Restore?.RestoreStartedAt ?? DateTimeOffset.UtcNow);
                    ApplyEnvironment(engineResult.Restore?.Environment);
                }
            }

            scope.InBeforeCheckpoint = false;
            scope.RestartDeadline(cancellationToken);
            await TimePhaseAsync(CheckpointPhase.AfterRestore, async () =>
            {
                try
                {
                    await Global.AfterRestoreAsync(Global, scope.Cancellation.Token).ConfigureAwait(false);
                }
                catch (Exception exception)
                {
                    // After a failed checkpoint, restore failures belong to the checkpoint's report.
                    if (checkpointFailures.HasException)
                    {
                        checkpointFailures.Add(exception);
                    }
                    else
                    {
                        restoreFailures.Add(exception);
                    }
                }
            }).ConfigureAwait(false);

            foreach (Exception failure in RestoreSignals.CheckpointEnded(restored: engineResult?.Kind == EngineResultKind.Restored))
            {
                restoreFailures.Add(failure);
            }

            if (engineResult?.Kind == EngineResultKind.Restored)
            {
                State.RecordRestoreCompleted();
                await RunRestoreEntryPointAsync(engineResult.Restore?.Arguments, restoreFailures).ConfigureAwait(false);
            }
        }
        finally
        {
            Volatile.Write(ref _runningScope, null);
            CheckpointScope.Exit();
        }

        FdSummary fdSummary = scope.FdSummary;
        IReadOnlyList<CheckpointAction> actions;
        lock (scope.Actions)
        {
            actions = [.. scope.Actions];
        }

        CheckpointOutcome outcome = (checkpointFailures.HasException, restoreFailures.HasException, options.DryRun, engineResult?.Kind) switch
        {
            (true, _, _, _) => CheckpointOutcome.Failed,
            (_, true, _, _) => CheckpointOutcome.RestoreFailed,
            (_, _, true, _) => CheckpointOutcome.DryRunPassed,
            (_, _, _, EngineResultKind.KeptRunning) => CheckpointOutcome.KeptRunning,
            _ => CheckpointOutcome.Restored,
        };
        CheckpointException? checkpointFailure = checkpointFailures.HasException ? checkpointFailures.Exception : null;
        RestoreException? restoreFailure = restoreFailures.HasException ? restoreFailures.Exception : null;
        State.RecordOutcome(startedAt, options.Engine.Name, outcome, FirstLine(checkpointFailure ?? (Exception?)restoreFailure));

        var report = new CheckpointReport
        {
            Outcome = outcome,
            Engine = options.Engine.Name,
            DryRun = options.DryRun,
            CheckpointFailure = checkpointFailure,
            RestoreFailure = restoreFailure,
            ImageDirectory = engineResult?.ImageDirectory ?? options.ImageDirectory,
            Generation = State.Generation,
            Phases = phases,
            Actions = actions,
            EngineCommand = options.DryRun && !checkpointFailures.HasException ? options.Engine.DescribeCommand(options, plan, fdSummary) : null,
        };
        Completed?.Invoke(report);
        return report;
    }

    /// <summary>A checkpoint refused before any resource was notified.</summary>
    private static CheckpointReport Refused(string engine, bool dryRun, Exception reason)
    {
        CheckpointException failure = Aggregates.Checkpoint();
        failure.AddSuppressed(reason);
        return new CheckpointReport
        {
            Outcome = CheckpointOutcome.Failed,
            Engine = engine,
            DryRun = dryRun,
            CheckpointFailure = failure,
            Generation = State.Generation,
        };
    }

    /// <summary>
    /// Runs the notification machinery (the contexts' and the invoker's async code, both ways) once
    /// on a private context holding a resource that does nothing, outside any checkpoint: in a
    /// restored process the after-restore half's first run would otherwise be first calls, on the
    /// path to its first response (see AgentHost.WarmUp).
    /// </summary>
    internal static void RehearseNotifications()
    {
        var rehearsal = new GlobalContext();
        rehearsal.Register(NothingToDo.Instance);
        rehearsal.BeforeCheckpointAsync(rehearsal, CancellationToken.None).GetAwaiter().GetResult();
        rehearsal.AfterRestoreAsync(rehearsal, CancellationToken.None).GetAwaiter().GetResult();
    }

    private sealed class NothingToDo : IResource
    {
        public static readonly NothingToDo Instance = new();

        public Task BeforeCheckpointAsync(Context context, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task AfterRestoreAsync(Context context, CancellationToken cancellationToken) => Task.CompletedTask;
    }

    /// <summary>A compacting full GC that also returns freed memory to the OS, then trims the native heap: the image holds only live data.</summary>
    private static void CompactAndTrimHeap()
    {
        GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        Libc.malloc_trim(0);
    }

    /// <summary>The restorer's environment replaces the checkpointed one, as in CRaC's RestoreEnvironmentTest.</summary>
    private static void ApplyEnvironment(IReadOnlyDictionary<string, string>? environment)
    {
        if (environment is null)
        {
            return;
        }

        foreach ((string name, string value) in environment)
        {
            Environment.SetEnvironmentVariable(name, value);
        }
    }

    private static async Task RunRestoreEntryPointAsync(IReadOnlyList<string>? arguments, ExceptionCollector<RestoreException> failures)
    {
        if (arguments is not { Count: > 0 })
        {
            return;
        }

        Func<string[], Task>? entryPoint = _restoreEntryPoint;
        if (entryPoint is null)
        {
            failures.Add(new InvalidOperationException(
                $"The restore passed new arguments ({string.Join(' ', arguments)}) but the application registered no restore entry point. " +
                "Call Core.SetRestoreEntryPoint before the checkpoint, or restore without arguments."));
            return;
        }

        try
        {
            await entryPoint([.. arguments]).ConfigureAwait(false);
        }
        catch (Exception exception)
        {
            failures.Add(exception);
        }
    }

    private static string? FirstLine(Exception? exception)
    {
        if (exception is null)
        {
            return null;
        }

        Exception first = exception is CracException { Suppressed.Count: > 0 } crac ? crac.Suppressed[0] : exception;
        string message = first.Message.Split('\n')[0];
        int more = exception is CracException c ? c.Suppressed.Count - 1 : 0;
        return more > 0 ? $"{message} (and {more} more)" : message;
    }

    /// <summary>Keeps the process's own record of where the checkpoint stands, and passes each step on.</summary>
    private sealed class PhaseTracker(ICheckpointObserver? observer) : ICheckpointObserver
    {
        public void OnPhase(CheckpointPhase phase)
        {
            State.CurrentPhase = phase;
            observer?.OnPhase(phase);
        }

        public void OnWaitingForDump(Engines.Criu.DumpInstructions instructions)
        {
            State.CurrentPhase = CheckpointPhase.WaitingForDump;
            observer?.OnWaitingForDump(instructions);
        }

        public void OnPaused()
        {
            State.CurrentPhase = CheckpointPhase.Paused;
            observer?.OnPaused();
        }
    }
}
