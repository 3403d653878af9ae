using Crac.Configuration;

namespace Crac.Coordination;

/// <summary>
/// The ambient state of one running checkpoint, flowing with the async context of the thread
/// that runs it. It tells a recursive checkpoint from a concurrent one, lets a context refuse a
/// registration made from inside its own notification, and carries the deadline.
/// </summary>
internal sealed class CheckpointScope
{
    private static readonly AsyncLocal<CheckpointScope?> CurrentScope = new();

    private CheckpointScope(CheckpointLimits limits, bool dryRun, CancellationToken cancellationToken)
    {
        DryRun = dryRun;
        Limits = limits;
        Deadline = NewDeadline(limits);
        Cancellation = CancellationTokenSource.CreateLinkedTokenSource(Deadline.Token, cancellationToken);
    }

    /// <summary>The scope of the checkpoint this code runs inside of, if any.</summary>
    public static CheckpointScope? Current => CurrentScope.Value;

    /// <summary>The limits of this checkpoint; each notification pass has <see cref="CheckpointLimits.ResourceTimeout"/>.</summary>
    public CheckpointLimits Limits { get; }

    /// <summary>Fires at the deadline only.</summary>
    public CancellationTokenSource Deadline { get; private set; }

    /// <summary>Fires at the deadline or when the caller cancels: what resources receive.</summary>
    public CancellationTokenSource Cancellation { get; private set; }

    /// <summary>Set once a resource overran the deadline: no further resource is notified.</summary>
    public bool TimedOut { get; set; }

    /// <summary>True while resources are being notified of the checkpoint (not yet of the restore).</summary>
    public bool InBeforeCheckpoint { get; set; }

    /// <summary>A dry run: every check runs, nothing is closed for the image.</summary>
    public bool DryRun { get; init; }

    /// <summary>Some resource already failed: later ones should report problems but change nothing.</summary>
    public bool Failing { get; set; }

    /// <summary>The engine's preflight found problems: the checkpoint fails whatever the resources do.</summary>
    public bool PreflightFailed { get; set; }

    /// <summary>The process is a restored one (not the original carrying on after a failed or kept-running checkpoint).</summary>
    public bool Restored { get; set; }

    /// <summary>What the engine's image takes along as it is: the fd verdicts follow it.</summary>
    public Engines.ImageCapabilities Capabilities { get; set; } = Engines.ImageCapabilities.CriuDefaults;

    /// <summary>What the fd checks found that decides the engine's automatic flags; unknown until they ran.</summary>
    public Engines.FdSummary FdSummary { get; set; } = Engines.FdSummary.Unknown;

    /// <summary>The operator's policies for this checkpoint only, ahead of the application's.</summary>
    public PolicyText? OperatorPolicies { get; set; }

    /// <summary>What was done automatically during this checkpoint, in order (see <see cref="CheckpointActions"/>).</summary>
    public List<CheckpointAction> Actions { get; } = [];

    /// <summary>The phases finished so far, in order, with their durations (lock it to read while the checkpoint runs).</summary>
    public List<PhaseTiming> Phases { get; } = [];

    public static CheckpointScope Enter(CheckpointLimits limits, bool dryRun, CancellationToken cancellationToken)
    {
        var scope = new CheckpointScope(limits, dryRun, cancellationToken);
        CurrentScope.Value = scope;
        return scope;
    }

    /// <summary>Restore notifications get a fresh deadline of the same length.</summary>
    public void RestartDeadline(CancellationToken cancellationToken)
    {
        Deadline.Dispose();
        Cancellation.Dispose();
        Deadline = NewDeadline(Limits);
        Cancellation = CancellationTokenSource.CreateLinkedTokenSource(Deadline.Token, cancellationToken);
        TimedOut = false;
    }

    private static CancellationTokenSource NewDeadline(CheckpointLimits limits)
    {
        var deadline = new CancellationTokenSource();
        if (!limits.IsInfinite)
        {
            deadline.CancelAfter(limits.ResourceTimeout);
        }

        return deadline;
    }

    public static void Exit()
    {
        CheckpointScope? scope = CurrentScope.Value;
        CurrentScope.Value = null;
        scope?.Deadline.Dispose();
        scope?.Cancellation.Dispose();
    }
}
