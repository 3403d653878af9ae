using System.Numerics;
using System.Runtime.CompilerServices;
using Crac.Lifecycle;

namespace Crac;

/// <summary>
/// Quiesces a component for a checkpoint, as CRaC's read-write-lock pattern does, with the cost
/// moved to the checkpoint: work passes through the gate (<see cref="Enter"/> or
/// <see cref="EnterAsync"/>, then <see cref="Scope.Dispose"/>); before a checkpoint the gate
/// closes and waits until the work inside has left; after the restore it opens again. Work that
/// arrives while it is closed waits until it opens.
/// </summary>
/// <remarks>
/// <para>
/// Register it like any resource, after whatever the work it guards uses (so that it closes
/// before those and opens after them): <c>Core.GlobalContext.Register(gate)</c>. Keep a
/// reference to it, as to any resource: the global context holds it weakly.
/// </para>
/// <para>
/// Entering costs a look at the counter of the page of stack the thread runs on, a plain store to
/// it and a volatile read; leaving on the same page, the same. No lock, no thread-static lookup, no
/// interlocked operation, and no cache line that the threads passing through share. Closing pays instead: a
/// process-wide barrier (<c>membarrier</c>) stands in for the fences the passing threads skip,
/// then it sums the counters and waits. Why that is correct is in docs/gate.md.
/// </para>
/// <para>
/// If the work inside does not leave before the checkpoint's deadline (the
/// <see cref="CancellationToken"/> the resource receives fires), the gate fails the checkpoint
/// with a <see cref="TimeoutException"/> that names it and says how many were still inside, and
/// opens again. Do not pass through the gate from code the checkpoint itself runs (a resource's
/// notification) or checkpoint from inside it: that work would wait for a gate that waits for it.
/// Entering is not reentrant either: a thread already inside that enters again while the gate
/// closes waits, and the checkpoint times out.
/// </para>
/// </remarks>
public sealed class CheckpointGate : IResource
{
    private readonly GateCore<HardwareMemory> _core;

    /// <summary>Creates an open gate.</summary>
    /// <param name="name">Names the gate in errors, such as a checkpoint that timed out waiting for it.</param>
    public CheckpointGate(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        Name = name;
        // Stripes only for pages of stack that find no lane: enough that those rarely share one.
        _core = new GateCore<HardwareMemory>((int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(64, 4 * Environment.ProcessorCount)));
    }

    /// <summary>The name given at construction.</summary>
    public string Name { get; }

    /// <summary>False from the moment a checkpoint starts closing the gate until it opens again.</summary>
    public bool IsOpen => _core.IsOpen;

    /// <summary>
    /// Enters the gate, waiting while it is closed. Dispose the result exactly once, on any thread,
    /// when the work is done: <c>using (gate.Enter()) { ... }</c>.
    /// </summary>
    /// <param name="cancellationToken">Stops waiting for a closed gate to open.</param>
    /// <exception cref="OperationCanceledException">The token fired while the gate was closed.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Scope Enter(CancellationToken cancellationToken = default)
    {
        int lane = _core.TryEnter();
        return lane >= 0 ? new Scope(_core, lane) : WaitUntilEntered(cancellationToken);
    }

    /// <summary>
    /// Enters the gate, waiting asynchronously while it is closed (completes synchronously, with
    /// no allocation, while it is open). Dispose the result exactly once when the work is done.
    /// </summary>
    /// <param name="cancellationToken">Stops waiting for a closed gate to open.</param>
    /// <exception cref="OperationCanceledException">The token fired while the gate was closed.</exception>
    public ValueTask<Scope> EnterAsync(CancellationToken cancellationToken = default)
    {
        int lane = _core.TryEnter();
        return lane >= 0 ? new ValueTask<Scope>(new Scope(_core, lane)) : EnterWhenOpenAsync(cancellationToken);
    }

    /// <summary>Closes the gate and waits until the work inside has left, or fails at the checkpoint's deadline.</summary>
    /// <param name="context">The context that notifies this gate.</param>
    /// <param name="cancellationToken">The checkpoint's deadline: when it fires with work still inside, the gate opens again and throws.</param>
    /// <exception cref="TimeoutException">Work was still inside at the deadline; the gate is open again.</exception>
    public async Task BeforeCheckpointAsync(Context context, CancellationToken cancellationToken)
    {
        GateClosing closing = _core.BeginClose();
        if (closing.Drained.Task.IsCompleted)
        {
            return;
        }

        try
        {
            await closing.Drained.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            int inside = _core.ResolveTimeout(closing);
            if (inside < 0)
            {
                throw new InvalidOperationException(
                    $"Checkpoint gate '{Name}' was opened again while the checkpoint waited for it to close, so it holds nothing back. " +
                    "Open a gate only through its after-restore, and register it with one context.");
            }

            if (inside > 0)
            {
                throw new TimeoutException(
                    $"Checkpoint gate '{Name}' could not close: {inside} {(inside == 1 ? "unit of work was" : "units of work were")} still inside it " +
                    "when the checkpoint's deadline passed, and the gate is open again. Make the work inside the gate shorter, " +
                    "or raise the checkpoint timeout (CRAC_CHECKPOINT_TIMEOUT, or --timeout).");
            }
        }
    }

    /// <summary>Opens the gate and lets the waiting work in. Safe to call when it is already open (after a failed close).</summary>
    /// <param name="context">The context that notifies this gate.</param>
    /// <param name="cancellationToken">Not used: opening does not wait.</param>
    public Task AfterRestoreAsync(Context context, CancellationToken cancellationToken)
    {
        _core.Reopen();
        return Task.CompletedTask;
    }

    /// <summary>The name, as checkpoint errors show it.</summary>
    public override string ToString() => Name;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private Scope WaitUntilEntered(CancellationToken cancellationToken)
    {
        while (true)
        {
            _core.Closing?.Reopened.Task.Wait(cancellationToken);
            int lane = _core.TryEnter();
            if (lane >= 0)
            {
                return new Scope(_core, lane);
            }
        }
    }

    private async ValueTask<Scope> EnterWhenOpenAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            if (_core.Closing is { } closing)
            {
                await closing.Reopened.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            }

            int lane = _core.TryEnter();
            if (lane >= 0)
            {
                return new Scope(_core, lane);
            }
        }
    }

    /// <summary>A passage through the gate; <see cref="Dispose"/> leaves it.</summary>
    public readonly struct Scope : IDisposable
    {
        // Two words, so that Enter returns it in registers.
        private readonly GateCore<HardwareMemory>? _core;
        private readonly int _lane;

        internal Scope(GateCore<HardwareMemory> core, int lane)
        {
            _core = core;
            _lane = lane;
        }

        /// <summary>
        /// Leaves the gate, on whichever thread the work ends. Call it once: a copy of the scope
        /// disposed again would leave twice. Disposing a default scope does nothing.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Dispose() => _core?.Exit(_lane);
    }
}
