using Crac.Lifecycle;

namespace Crac.Tests.Lifecycle;

/// <summary>
/// The gate's algorithm (the production <see cref="GateCore{TMemory}"/>) explored interleaving by
/// interleaving on a simulated x86-TSO memory (see <see cref="TsoMachine"/>), in the races that
/// matter: a close while threads enter, exits racing the drain, the deadline racing the last
/// exit, a reopen racing a late entry, a scope left on another thread. Each search covers every
/// execution within its preemption bound. Every scenario runs with each thread on a slot of its
/// own (plain stores), with all on one interlocked stripe (threads beyond the slots), and mixed.
/// </summary>
[TestClass]
public sealed class GateInterleavingTests
{
    private const int PreemptionBound = 2;
    private const int MaxExecutions = 5_000_000;

    public TestContext TestContext { get; set; } = null!;

    public enum Lanes
    {
        OwnSlots,
        SharedStripe,
        SlotAndStripe,
    }

    [TestMethod]
    [DataRow(Lanes.OwnSlots)]
    [DataRow(Lanes.SharedStripe)]
    [DataRow(Lanes.SlotAndStripe)]
    public void CloseWhileThreadsEnterNeverLetsOneInUnseenAndAlwaysDrains(Lanes lanes) =>
        AssertNoFailure(new Scenario("close while entering", machine =>
        {
            var gate = new Gate(machine, workers: 2);
            machine.Spawn("worker-0", Lane(lanes, 0), () => gate.Pass("worker-0"));
            machine.Spawn("worker-1", Lane(lanes, 1), () => gate.Pass("worker-1"));
            machine.Spawn("closer", 0, gate.CloseCheckpointAndReopen);
        }));

    [TestMethod]
    [DataRow(Lanes.OwnSlots)]
    [DataRow(Lanes.SharedStripe)]
    [DataRow(Lanes.SlotAndStripe)]
    public void ExitsRacingTheDrainAlwaysCompleteItAndLateEntriesWaitForTheReopen(Lanes lanes) =>
        AssertNoFailure(new Scenario("exits racing the drain", machine =>
        {
            var gate = new Gate(machine, workers: 2);
            Func<int> first = gate.EnterInSetup(Lane(lanes, 0));
            Func<int> second = gate.EnterInSetup(Lane(lanes, 1));
            machine.Spawn("worker-0", Lane(lanes, 0), () =>
            {
                gate.Leave("worker-0", first());
                gate.Pass("worker-0");
            });
            machine.Spawn("worker-1", Lane(lanes, 1), () =>
            {
                gate.Leave("worker-1", second());
                gate.Pass("worker-1");
            });
            machine.Spawn("closer", 0, gate.CloseCheckpointAndReopen);
        }));

    [TestMethod]
    [DataRow(1, Lanes.OwnSlots)]
    [DataRow(2, Lanes.OwnSlots)]
    [DataRow(2, Lanes.SharedStripe)]
    [DataRow(2, Lanes.SlotAndStripe)]
    public void TheDeadlineRacingTheLastExitEitherDrainsOrReopensWithACountAndNeverStrandsAnyone(int workers, Lanes lanes) =>
        AssertNoFailure(new Scenario("deadline racing the last exit", machine =>
        {
            var gate = new Gate(machine, workers);
            machine.TimeoutArmed = true;
            for (int i = 0; i < workers; i++)
            {
                string name = "worker-" + i;
                int lane = Lane(lanes, i);
                Func<int> entered = gate.EnterInSetup(lane);
                machine.Spawn(name, lane, () =>
                {
                    gate.Leave(name, entered());
                    gate.Pass(name);
                });
            }

            machine.Spawn("closer", 0, gate.CloseCheckpointAndReopen);
        }));

    [TestMethod]
    [DataRow(Lanes.OwnSlots)]
    [DataRow(Lanes.SharedStripe)]
    [DataRow(Lanes.SlotAndStripe)]
    public void AReopenRacingLateEntriesLetsEachInOnceAndTheNextCloseStillDrains(Lanes lanes) =>
        AssertNoFailure(new Scenario("reopen racing a late entry", machine =>
        {
            var gate = new Gate(machine, workers: 2);
            gate.CloseInSetup();
            machine.Spawn("worker-0", Lane(lanes, 0), () => gate.Pass("worker-0"));
            machine.Spawn("worker-1", Lane(lanes, 1), () => gate.Pass("worker-1"));
            machine.Spawn("closer", 0, () =>
            {
                gate.FinishCheckpointAndReopen();
                gate.CloseCheckpointAndReopen();
            });
        }));

    /// <summary>
    /// An async flow entered on one thread and resumed on another: its exit is interlocked, on the
    /// slot's foreign count, while the slot's own thread keeps passing with plain stores.
    /// </summary>
    [TestMethod]
    public void AScopeLeftOnAnotherThreadWhileItsThreadPassesAgainStillDrains() =>
        AssertNoFailure(new Scenario("a scope left on another thread", machine =>
        {
            var gate = new Gate(machine, workers: 2);
            Func<int> entered = gate.EnterInSetup(0);
            machine.Spawn("continuation", 1, () => gate.Leave("continuation", entered()));
            machine.Spawn("worker-0", 0, () => gate.Pass("worker-0"));
            machine.Spawn("closer", 0, gate.CloseCheckpointAndReopen);
        }));

    /// <summary>
    /// A thread that leaves after the closing is visible but before the closer's process-wide
    /// barrier has run must not sum: another thread's +1 may still sit in its store buffer. The
    /// execution that shows it needs three preemptions (the closer's store reaching memory early
    /// is one), so this small scenario is searched with a bound of 3.
    /// </summary>
    [TestMethod]
    public void ALeaverBeforeTheBarrierNeverDrainsTheGateOverAnEntryStillInAStoreBuffer() =>
        AssertNoFailure(new Scenario("a leaver before the barrier", machine =>
        {
            var gate = new Gate(machine, workers: 2);
            Func<int> entered = gate.EnterInSetup(1);
            machine.Spawn("enterer", 0, () => gate.Pass("enterer"));
            machine.Spawn("leaver", 1, () => gate.Leave("leaver", entered()));
            machine.Spawn("closer", 0, gate.CloseCheckpointAndReopen);
        }), preemptionBound: 3);

    private static int Lane(Lanes lanes, int worker) => lanes switch
    {
        Lanes.OwnSlots => worker,
        Lanes.SharedStripe => ~0,
        _ => worker == 0 ? 0 : ~0,
    };

    /// <summary>The machine itself: store buffering, the reordering the gate's handshake must survive, is found, and a fence forbids it.</summary>
    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void TheCheckerFindsStoreBufferingAndAFenceForbidsIt(bool fenced)
    {
        var scenario = new Scenario("store buffering", machine =>
        {
            object x = new(), y = new();
            int seenByA = -1, seenByB = -1;
            machine.Spawn("a", 0, () =>
            {
                machine.Store(x, 0, 1);
                if (fenced)
                {
                    machine.Fence();
                }

                seenByA = (int)machine.Load(y, 0, 0)!;
                machine.BlockUntil(() => seenByB >= 0, "b");
                TsoMachine.Check(seenByA == 1 || seenByB == 1, "both loads missed both stores");
            });
            machine.Spawn("b", 0, () =>
            {
                machine.Store(y, 0, 1);
                if (fenced)
                {
                    machine.Fence();
                }

                seenByB = (int)machine.Load(x, 0, 0)!;
            });
        });

        var search = new BoundedSearch(PreemptionBound);
        ExecutionResult? failure = search.Explore(scenario, MaxExecutions);

        TestContext.WriteLine($"{search.Executions} executions");
        if (fenced)
        {
            Assert.IsNull(failure, failure?.Failure + "\n" + failure?.Trace);
        }
        else
        {
            Assert.IsNotNull(failure, "the checker must find the store-buffering outcome");
            StringAssert.Contains(failure.Failure, "both loads missed both stores");
        }
    }

    private void AssertNoFailure(Scenario scenario, int preemptionBound = PreemptionBound)
    {
        var search = new BoundedSearch(preemptionBound);
        ExecutionResult? failure = search.Explore(scenario, MaxExecutions);
        TestContext.WriteLine($"{scenario}: {search.Executions} executions within {preemptionBound} preemptions");
        Assert.IsNull(failure, $"{scenario}: {failure?.Failure}\n--- the execution:\n{failure?.Trace}");
        Assert.IsTrue(search.Executions > 100, $"{scenario}: only {search.Executions} executions: the search explored nothing");
    }

    /// <summary>A gate under simulation, with the truth the checks compare it to.</summary>
    private sealed class Gate(TsoMachine machine, int workers)
    {
        private readonly GateCore<SimulatedMemory> _core = new(stripes: 1);
        private int _inside;
        private bool _checkpointing;

        /// <returns>The entry's ticket, known once the setup has run.</returns>
        public Func<int> EnterInSetup(int lane)
        {
            int entered = -1;
            machine.Prelude(lane, () =>
            {
                entered = _core.TryEnter();
                TsoMachine.Check(entered >= 0, "an open gate lets the setup in");
                _inside++;
            });
            return () => entered;
        }

        public void CloseInSetup()
        {
            machine.Prelude(0, () =>
            {
                GateClosing closing = _core.BeginClose();
                TsoMachine.Check(closing.Drained.Task.IsCompleted, "an empty gate drains at once");
                _checkpointing = true;
            });
        }

        /// <summary>One unit of work: enter (waiting while closed), work, leave.</summary>
        public void Pass(string who)
        {
            int ticket;
            while ((ticket = _core.TryEnter()) < 0)
            {
                if (_core.Closing is { } wait)
                {
                    machine.BlockUntil(() => wait.Reopened.Task.IsCompleted, "the gate to reopen");
                }
            }

            TsoMachine.Check(!_checkpointing, $"{who} got in while the checkpoint ran");
            _inside++;
            machine.Step("work");
            Leave(who, ticket);
        }

        public void Leave(string who, int ticket)
        {
            _inside--;
            _core.Exit(ticket);
        }

        /// <summary>The coordinator: before-checkpoint (close, wait for the drain or the deadline), the checkpoint, after-restore.</summary>
        public void CloseCheckpointAndReopen()
        {
            GateClosing closing = _core.BeginClose();
            machine.BlockUntil(() => closing.Drained.Task.IsCompleted || machine.TimeoutFired, "the drain");
            if (!closing.Drained.Task.IsCompleted)
            {
                int inside = _core.ResolveTimeout(closing);
                if (inside > 0)
                {
                    TsoMachine.Check(inside <= workers, $"the timeout reported {inside} inside, more than there are workers");
                    TsoMachine.Check(_core.IsOpen, "the gate must be open again after a failed close");
                    // The checkpoint failed; the coordinator still runs after-restore.
                    _core.Reopen();
                    return;
                }
            }

            TsoMachine.Check(_inside == 0, $"the gate reported drained with {_inside} inside");
            _checkpointing = true;
            FinishCheckpointAndReopen();
        }

        public void FinishCheckpointAndReopen()
        {
            machine.Step("checkpoint");
            machine.Step("restore");
            _checkpointing = false;
            _core.Reopen();
        }
    }
}
