using System.Text;
using Crac.Lifecycle;

namespace Crac.Tests.Lifecycle;

/// <summary>
/// A deterministic, systematic scheduler for small concurrent programs over a simulated x86-TSO
/// memory: the "stateless model checking" of CHESS, written for the gate.
/// </summary>
/// <remarks>
/// <para>
/// Why not Coyote: its systematic mode explores interleavings of tasks and locks under
/// sequential consistency (after rewriting the binaries). The gate's correctness hangs on memory
/// ordering, on which store a thread can still hold in its store buffer while another reads, and
/// a checker that cannot reorder a store after a later load cannot tell a correct fence from a
/// missing one. This one models that (a store goes into the thread's FIFO buffer; a load reads
/// the thread's own newest buffered store, else memory; an interlocked operation or a fence
/// drains the buffer; the scheduler may drain any buffered store at any step), and it runs the
/// production algorithm itself: <see cref="GateCore{TMemory}"/> with <see cref="SimulatedMemory"/>.
/// </para>
/// <para>
/// Each simulated thread is a real thread, but only one runs at a time: every memory operation
/// is a scheduling point, where the running thread asks the chooser what happens next (go on,
/// switch to another thread, drain a buffered store, let the deadline pass) and hands over only
/// when another thread is to run. Replaying the same choices replays the same execution, so a
/// depth-first search over the choices visits every execution, bounded by the number of
/// preemptions (a switch away from a thread that could have gone on), the bound under which
/// CHESS found its bugs.
/// </para>
/// </remarks>
internal sealed class TsoMachine
{
    [ThreadStatic]
    private static SimThread? t_current;

    private readonly Dictionary<(object Owner, int Index), object?> _memory = [];
    private readonly List<SimThread> _threads = [];
    private readonly List<SimThread> _preludes = [];
    private readonly SemaphoreSlim _finished = new(0);
    private readonly IChooser _chooser;
    private readonly List<Choice> _choices = [];
    private readonly StringBuilder? _trace;
    private readonly int _maxSteps;
    private SimThread? _running;
    private volatile bool _aborting;
    private bool _inPrelude;
    private string? _failure;
    private int _steps;

    private TsoMachine(IChooser chooser, int maxSteps, bool trace)
    {
        _chooser = chooser;
        _maxSteps = maxSteps;
        _trace = trace ? new StringBuilder() : null;
    }

    /// <summary>Set by a scenario that wants the deadline as a possible event.</summary>
    public bool TimeoutArmed { get; set; }

    public bool TimeoutFired { get; private set; }

    public static SimThread CurrentThread => t_current ?? throw new InvalidOperationException("Not on a simulated thread.");

    public static TsoMachine Current => CurrentThread.Machine;

    /// <summary>Runs one execution of the scenario under the chooser's choices; <paramref name="trace"/> records what happened, step by step.</summary>
    public static ExecutionResult Run(Scenario scenario, IChooser chooser, bool trace = false, int maxSteps = 5_000)
    {
        var machine = new TsoMachine(chooser, maxSteps, trace);
        scenario.Build(machine);
        return machine.Execute();
    }

    /// <param name="lane">The thread's slot (0 or more), or, negative, the complement of the stripe a thread without a slot uses. Threads with one lane are one thread to the gate (same stack).</param>
    public void Spawn(string name, int lane, Action body) => _threads.Add(new SimThread(this, name, lane, body));

    /// <summary>Runs a body to its end before the threads start, alone and with its stores drained: the state a scenario starts from.</summary>
    public void Prelude(int lane, Action body) => _preludes.Add(new SimThread(this, "setup", lane, body));

    public object? Load(object owner, int index, object? initial)
    {
        SimThread thread = Yield(new Operation("load", owner, index));
        foreach ((object Owner, int Index, object? Value) entry in thread.Buffer.Reverse())
        {
            if (ReferenceEquals(entry.Owner, owner) && entry.Index == index)
            {
                return entry.Value;
            }
        }

        return _memory.TryGetValue((owner, index), out object? value) ? value : initial;
    }

    public void Store(object owner, int index, object? value)
    {
        SimThread thread = Yield(new Operation("store", owner, index, value));
        thread.Buffer.Enqueue((owner, index, value));
    }

    public void AtomicAdd(object owner, int index, int delta)
    {
        SimThread thread = Yield(new Operation("add", owner, index, delta));
        Drain(thread);
        _memory[(owner, index)] = (_memory.TryGetValue((owner, index), out object? value) ? (int)value! : 0) + delta;
    }

    public void Fence() => Drain(Yield(new Operation("fence")));

    /// <summary><c>membarrier</c>: every thread passes a full fence, so every buffered store reaches memory.</summary>
    public void ProcessWideFence()
    {
        Drain(Yield(new Operation("process-wide fence")));
        foreach (SimThread thread in _threads)
        {
            Drain(thread);
        }
    }

    public bool Signal(TaskCompletionSource signal)
    {
        Drain(Yield(new Operation("signal")));
        return signal.TrySetResult();
    }

    /// <summary>A scheduling point with no memory operation: lets the others run in the middle of something.</summary>
    public void Step(string what) => Yield(new Operation(what));

    /// <summary>Blocks the calling simulated thread until the condition holds (the scheduler re-evaluates it).</summary>
    public void BlockUntil(Func<bool> condition, string what)
    {
        SimThread thread = CurrentThread;
        thread.BlockedOn = condition;
        thread.BlockedWhat = what;
        Yield(new Operation("wait for " + what));
        thread.BlockedOn = null;
    }

    /// <summary>A check inside a simulated thread; failing it ends the execution with the trace.</summary>
    public static void Check(bool condition, string message)
    {
        if (!condition)
        {
            throw new SimulationFailure(message);
        }
    }

    private static string Describe(object owner, int index) => owner switch
    {
        GateSlot[] => $"slot[{index / 2}].{(index % 2 == 0 ? "own" : "foreign")}",
        GateClosing => "fenced",
        _ when index < 0 => "closing",
        _ => $"{owner.GetType().Name}[{index}]",
    };

    private void Drain(SimThread thread)
    {
        while (thread.Buffer.Count > 0)
        {
            FlushOldest(thread);
        }
    }

    private void FlushOldest(SimThread thread)
    {
        (object owner, int index, object? value) = thread.Buffer.Dequeue();
        _memory[(owner, index)] = value;
    }

    /// <summary>A scheduling point of the running thread: returns when the thread is to perform its next operation.</summary>
    private SimThread Yield(Operation nextOperation)
    {
        SimThread thread = CurrentThread;
        thread.NextOperation = nextOperation;
        if (_inPrelude)
        {
            return thread;
        }

        if (Decide(thread))
        {
            return thread;
        }

        // Another thread runs now; this one waits until it is chosen again (or the execution ends).
        thread.Go.Wait();
        if (_aborting)
        {
            throw new SimulationAborted();
        }

        return thread;
    }

    /// <summary>
    /// Makes choices until a thread is to run: true when it is the caller, false when another
    /// thread was released or the execution ended. Only the thread that runs calls this.
    /// </summary>
    private bool Decide(SimThread? caller)
    {
        while (true)
        {
            if (_failure is not null)
            {
                return false;
            }

            List<Choice> choices = Choices();
            if (choices.Count == 0)
            {
                End(_threads.All(t => t.Done) ? null : "Deadlock: " + string.Join("; ", _threads.Where(t => !t.Done).Select(t => $"{t.Name} waits for {t.BlockedWhat}")));
                return false;
            }

            if (++_steps > _maxSteps)
            {
                End($"No end after {_maxSteps} steps (a livelock?).");
                return false;
            }

            Choice choice = choices[_chooser.Choose(choices)];
            switch (choice.Kind)
            {
                case ChoiceKind.Run:
                    SimThread next = choice.Thread!;
                    _trace?.Append(next.Name).Append(": ").Append(next.NextOperation?.ToString() ?? "start").Append('\n');
                    _running = next;
                    if (next == caller)
                    {
                        return true;
                    }

                    next.Go.Release();
                    return false;
                case ChoiceKind.Flush:
                    (object owner, int index, object? value) = choice.Thread!.Buffer.Peek();
                    _trace?.Append($"  (store {Describe(owner, index)} = {value ?? "null"} of {choice.Thread.Name} reaches memory)\n");
                    FlushOldest(choice.Thread);
                    break;
                case ChoiceKind.Timeout:
                    _trace?.Append("  (the checkpoint's deadline passes)\n");
                    TimeoutFired = true;
                    break;
            }
        }
    }

    private void End(string? failure)
    {
        _failure ??= failure ?? string.Empty;
        _finished.Release();
    }

    private ExecutionResult Execute()
    {
        try
        {
            _inPrelude = true;
            foreach (SimThread prelude in _preludes)
            {
                prelude.Start();
                prelude.Go.Release();
                prelude.Join();
                Drain(prelude);
                if (prelude.Failure is { } setupFailure)
                {
                    throw new InvalidOperationException("The scenario's setup failed.", setupFailure);
                }
            }

            _inPrelude = false;
            _trace?.Append("(setup done)\n");
            foreach (SimThread thread in _threads)
            {
                thread.Start();
            }

            _running = null;
            Decide(null);
            _finished.Wait();
        }
        finally
        {
            Abort();
        }

        return new ExecutionResult(string.IsNullOrEmpty(_failure) ? null : _failure, _trace?.ToString() ?? string.Empty);
    }

    private List<Choice> Choices()
    {
        List<Choice> choices = _choices;
        choices.Clear();
        bool runningCanGoOn = _running is { Done: false } r && r.CanRun;
        if (runningCanGoOn)
        {
            choices.Add(new Choice(ChoiceKind.Run, _running!, Preempts: false));
        }

        foreach (SimThread thread in _threads)
        {
            if (thread != _running && !thread.Done && thread.CanRun)
            {
                choices.Add(new Choice(ChoiceKind.Run, thread, runningCanGoOn));
            }
        }

        foreach (SimThread thread in _threads)
        {
            if (thread.Buffer.Count > 0)
            {
                choices.Add(new Choice(ChoiceKind.Flush, thread, runningCanGoOn));
            }
        }

        if (TimeoutArmed && !TimeoutFired && _threads.Any(t => !t.Done && t.BlockedOn is not null))
        {
            choices.Add(new Choice(ChoiceKind.Timeout, null, runningCanGoOn));
        }

        return choices;
    }

    private void Abort()
    {
        _aborting = true;
        foreach (SimThread thread in _threads)
        {
            if (thread.Started && !thread.Done)
            {
                thread.Go.Release();
            }
        }

        foreach (SimThread thread in _threads.Concat(_preludes))
        {
            thread.Join();
        }
    }

    internal sealed class SimThread(TsoMachine machine, string name, int lane, Action body)
    {
        private readonly ManualResetEventSlim _ended = new();

        public TsoMachine Machine { get; } = machine;

        public string Name { get; } = name;

        public int Lane { get; } = lane;

        public Queue<(object Owner, int Index, object? Value)> Buffer { get; } = new();

        public SemaphoreSlim Go { get; } = new(0);

        public Func<bool>? BlockedOn { get; set; }

        public string? BlockedWhat { get; set; }

        public Operation? NextOperation { get; set; }

        public bool Started { get; private set; }

        public volatile bool Done;

        public Exception? Failure { get; private set; }

        public bool CanRun => BlockedOn is null || BlockedOn();

        public void Start()
        {
            Started = true;
            Carrier.Run(this);
        }

        public void Join()
        {
            if (Started)
            {
                _ended.Wait();
            }
        }

        /// <summary>The simulated thread's life, on a carrier thread.</summary>
        public void Main()
        {
            t_current = this;
            try
            {
                Live();
            }
            finally
            {
                t_current = null;
                _ended.Set();
            }
        }

        private void Live()
        {
            Go.Wait();
            if (Machine._aborting)
            {
                Done = true;
                return;
            }

            try
            {
                body();
            }
            catch (SimulationAborted)
            {
                Done = true;
                return;
            }
            catch (Exception exception)
            {
                Failure = exception;
                Done = true;
                if (!Machine._inPrelude)
                {
                    Machine.End($"{Name} failed: {exception.Message}");
                }

                return;
            }

            Done = true;
            if (!Machine._inPrelude)
            {
                // Nobody else runs: this thread makes the next choice before it goes.
                Machine.Decide(null);
            }
        }
    }

    private sealed class SimulationAborted : Exception;

    /// <summary>What a thread does next, formatted only when a trace is kept.</summary>
    internal readonly record struct Operation(string Verb, object? Owner = null, int Index = 0, object? Value = null)
    {
        public override string ToString() => Verb switch
        {
            "load" => "load " + Describe(Owner!, Index),
            "store" => $"store {Describe(Owner!, Index)} = {Value ?? "null"}",
            "add" => $"add {Describe(Owner!, Index)} {(int)Value!:+0;-0}",
            _ => Verb,
        };
    }

    /// <summary>Threads that carry simulated threads, kept between executions: creating a thread per simulated thread dominated the run time.</summary>
    private sealed class Carrier
    {
        private static readonly System.Collections.Concurrent.ConcurrentBag<Carrier> Idle = [];
        private readonly SemaphoreSlim _assigned = new(0);
        private SimThread? _work;

        private Carrier()
        {
            new Thread(Loop) { IsBackground = true, Name = "tso-carrier" }.Start();
        }

        public static void Run(SimThread thread)
        {
            Carrier carrier = Idle.TryTake(out Carrier? idle) ? idle : new Carrier();
            carrier._work = thread;
            carrier._assigned.Release();
        }

        private void Loop()
        {
            while (true)
            {
                _assigned.Wait();
                SimThread work = _work!;
                _work = null;
                work.Main();
                Idle.Add(this);
            }
        }
    }
}

internal sealed class SimulationFailure(string message) : Exception(message);

internal enum ChoiceKind
{
    Run,
    Flush,
    Timeout,
}

internal readonly record struct Choice(ChoiceKind Kind, TsoMachine.SimThread? Thread, bool Preempts);

internal sealed record ExecutionResult(string? Failure, string Trace);

internal interface IChooser
{
    int Choose(IReadOnlyList<Choice> choices);
}

/// <summary>A small concurrent program: threads spawned on a machine, and what they check.</summary>
internal sealed class Scenario(string name, Action<TsoMachine> build)
{
    public string Name { get; } = name;

    public void Build(TsoMachine machine) => build(machine);

    public override string ToString() => Name;
}

/// <summary>
/// Depth-first search over the choices of every execution, with a bound on preemptions: each
/// execution replays a prefix of earlier choices and then takes the first choice (go on with
/// the running thread) wherever it is free to, and the next execution changes the last choice
/// that still has an untried alternative within the bound.
/// </summary>
internal sealed class BoundedSearch(int preemptionBound) : IChooser
{
    private readonly List<Step> _trace = [];
    private List<int> _prefix = [];
    private int _depth;
    private int _preemptions;

    public int Executions { get; private set; }

    /// <summary>Explores every execution within the bound; returns the first failure, with its trace.</summary>
    public ExecutionResult? Explore(Scenario scenario, int maxExecutions)
    {
        while (true)
        {
            _trace.Clear();
            _depth = 0;
            _preemptions = 0;
            Executions++;
            ExecutionResult result = TsoMachine.Run(scenario, this);
            if (result.Failure is not null)
            {
                // Run the failing execution again, this time keeping its trace.
                return TsoMachine.Run(scenario, new Replay([.. _trace.Select(s => s.Chosen)]), trace: true);
            }

            if (!Advance())
            {
                return null;
            }

            if (Executions >= maxExecutions)
            {
                throw new InvalidOperationException($"{scenario}: more than {maxExecutions} executions within {preemptionBound} preemptions; the search was not completed.");
            }
        }
    }

    public int Choose(IReadOnlyList<Choice> choices)
    {
        int chosen = _depth < _prefix.Count ? _prefix[_depth] : 0;
        if (chosen >= choices.Count)
        {
            throw new InvalidOperationException("The execution did not replay: the scenario is not deterministic.");
        }

        if (choices.Count > 64)
        {
            throw new InvalidOperationException("More than 64 choices at one step: too big a scenario for this search.");
        }

        ulong preempts = 0;
        for (int i = 0; i < choices.Count; i++)
        {
            preempts |= choices[i].Preempts ? 1UL << i : 0;
        }

        _trace.Add(new Step(preempts, choices.Count, chosen, _preemptions));
        if (choices[chosen].Preempts)
        {
            _preemptions++;
        }

        _depth++;
        return chosen;
    }

    private bool Advance()
    {
        for (int depth = _trace.Count - 1; depth >= 0; depth--)
        {
            Step step = _trace[depth];
            for (int alternative = step.Chosen + 1; alternative < step.Count; alternative++)
            {
                if (step.PreemptionsBefore + (int)((step.Preempts >> alternative) & 1) <= preemptionBound)
                {
                    _prefix = [.. _trace.Take(depth).Select(s => s.Chosen), alternative];
                    return true;
                }
            }
        }

        return false;
    }

    private readonly record struct Step(ulong Preempts, int Count, int Chosen, int PreemptionsBefore);

    /// <summary>Makes the given choices again.</summary>
    private sealed class Replay(int[] choices) : IChooser
    {
        private int _next;

        public int Choose(IReadOnlyList<Choice> available) => choices[_next++];
    }
}

/// <summary>The TSO machine as the gate's memory. A slot's own count is word 2n of the slot array, its foreign count word 2n + 1.</summary>
internal readonly struct SimulatedMemory : IGateMemory
{
    /// <summary>Two lanes: a simulated thread with lane 0 or 1 owns that one; a negative lane has none and passes on the stripe.</summary>
    public static int LaneBits => 1;

    public static int HomeLane() => Math.Max(TsoMachine.CurrentThread.Lane, 0);

    public static int FindLane(GateSlot[] slots) => TsoMachine.CurrentThread.Lane is >= 0 and int lane ? lane : -1;

    /// <summary>Threads of one lane are one thread to the gate (the same page of stack).</summary>
    public static bool OwnsLane(GateSlot[] slots, int lane) => TsoMachine.CurrentThread.Lane == lane;

    public static int CurrentStripe(int mask) => ~TsoMachine.CurrentThread.Lane & mask;

    public static int LoadOwn(GateSlot[] slots, int index) => (int)TsoMachine.Current.Load(slots, 2 * index, 0)!;

    public static void AddOwn(GateSlot[] slots, int index, int delta) => TsoMachine.Current.Store(slots, 2 * index, LoadOwn(slots, index) + delta);

    public static int LoadForeign(GateSlot[] slots, int index) => (int)TsoMachine.Current.Load(slots, (2 * index) + 1, 0)!;

    public static void AddForeign(GateSlot[] slots, int index, int delta) => TsoMachine.Current.AtomicAdd(slots, (2 * index) + 1, delta);

    public static bool LoadFenced(GateClosing closing) => (bool)TsoMachine.Current.Load(closing, 0, false)!;

    public static void StoreFenced(GateClosing closing) => TsoMachine.Current.Store(closing, 0, true);

    public static void ProcessWideFence() => TsoMachine.Current.ProcessWideFence();

    public static void Pause() => TsoMachine.Current.Step("pause");

    public static GateClosing? Load(ref GateClosing? field, object owner) => (GateClosing?)TsoMachine.Current.Load(owner, -1, null);

    public static void Store(ref GateClosing? field, object owner, GateClosing? value) => TsoMachine.Current.Store(owner, -1, value);

    public static void Fence() => TsoMachine.Current.Fence();

    public static bool TrySignal(TaskCompletionSource signal) => TsoMachine.Current.Signal(signal);
}
