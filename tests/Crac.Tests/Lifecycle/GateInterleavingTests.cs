using Crac.Lifecycle;

namespace Crac.Tests.Lifecycle;

/// <summary>
/// The gate's algorithm (the production <see cref="GateCore{TMemory}"/>) explored interleaving by
/// interleaving on a simulated x86-TSO memory (see <see cref="TsoMachine"/>), in the races that
/// matter: a close while threads enter, exits racing the drain, the deadline racing the last
/// exit, a reopen racing a late entry. Each search covers every execution within its preemption
/// bound. Every scenario runs twice: each thread on its own stripe, and all on one stripe.
/// </summary>
[TestClass]
public sealed class GateInterleavingTests
{
    private const int PreemptionBound = 2;
    private const int MaxExecutions = 200_000;

    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void CloseWhileThreadsEnterNeverLetsOneInUnseenAndAlwaysDrains(bool sharedStripe) =>
        AssertNoFailure(new Scenario("close while entering", machine =>
        {
            var gate = new Gate(machine, workers: 2);
            machine.Spawn("worker-0", 0, () => gate.Pass("worker-0"));
            machine.Spawn("worker-1", sharedStripe ? 0 : 1, () => gate.Pass("worker-1"));
            machine.Spawn("closer", 0, gate.CloseCheckpointAndReopen);
        }));

    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void ExitsRacingTheDrainAlwaysCompleteItAndLateEntriesWaitForTheReopen(bool sharedStripe) =>
        AssertNoFailure(new Scenario("exits racing the drain", machine =>
        {
            var gate = new Gate(machine, workers: 2);
            Func<int> first = gate.EnterInSetup(0);
            Func<int> second = gate.EnterInSetup(sharedStripe ? 0 : 1);
            machine.Spawn("worker-0", 0, () =>
            {
                gate.Leave("worker-0", first());
                gate.Pass("worker-0");
            });
            machine.Spawn("worker-1", sharedStripe ? 0 : 1, () =>
            {
                gate.Leave("worker-1", second());
                gate.Pass("worker-1");
            });
            machine.Spawn("closer", 0, gate.CloseCheckpointAndReopen);
        }));

    [TestMethod]
    [DataRow(1, false)]
    [DataRow(2, false)]
    [DataRow(2, true)]
    public void TheDeadlineRacingTheLastExitEitherDrainsOrReopensWithACountAndNeverStrandsAnyone(int workers, bool sharedStripe) =>
        AssertNoFailure(new Scenario("deadline racing the last exit", machine =>
        {
            var gate = new Gate(machine, workers);
            machine.TimeoutArmed = true;
            for (int i = 0; i < workers; i++)
            {
                string name = "worker-" + i;
                int stripe = sharedStripe ? 0 : i;
                Func<int> entered = gate.EnterInSetup(stripe);
                machine.Spawn(name, stripe, () =>
                {
                    gate.Leave(name, entered());
                    gate.Pass(name);
                });
            }

            machine.Spawn("closer", 0, gate.CloseCheckpointAndReopen);
        }));

    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void AReopenRacingLateEntriesLetsEachInOnceAndTheNextCloseStillDrains(bool sharedStripe) =>
        AssertNoFailure(new Scenario("reopen racing a late entry", machine =>
        {
            var gate = new Gate(machine, workers: 2);
            gate.CloseInSetup();
            machine.Spawn("worker-0", 0, () => gate.Pass("worker-0"));
            machine.Spawn("worker-1", sharedStripe ? 0 : 1, () => gate.Pass("worker-1"));
            machine.Spawn("closer", 0, () =>
            {
                gate.FinishCheckpointAndReopen();
                gate.CloseCheckpointAndReopen();
            });
        }));

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

    private void AssertNoFailure(Scenario scenario)
    {
        var search = new BoundedSearch(PreemptionBound);
        ExecutionResult? failure = search.Explore(scenario, MaxExecutions);
        TestContext.WriteLine($"{scenario}: {search.Executions} executions within {PreemptionBound} preemptions");
        Assert.IsNull(failure, $"{scenario}: {failure?.Failure}\n--- the execution:\n{failure?.Trace}");
        Assert.IsTrue(search.Executions > 100, $"{scenario}: only {search.Executions} executions: the search explored nothing");
    }

    /// <summary>A gate under simulation, with the truth the checks compare it to.</summary>
    private sealed class Gate(TsoMachine machine, int workers)
    {
        private readonly GateCore<SimulatedMemory> _core = new(stripes: 2);
        private int _inside;
        private bool _checkpointing;

        /// <returns>The stripe the entry used, known once the setup has run.</returns>
        public Func<int> EnterInSetup(int stripe)
        {
            int entered = -1;
            machine.Prelude(stripe, () =>
            {
                entered = _core.TryEnter(out _);
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
            int stripe;
            while ((stripe = _core.TryEnter(out GateClosing? closing)) < 0)
            {
                GateClosing wait = closing!;
                machine.BlockUntil(() => wait.Reopened.Task.IsCompleted, "the gate to reopen");
            }

            TsoMachine.Check(!_checkpointing, $"{who} got in while the checkpoint ran");
            _inside++;
            machine.Step("work");
            Leave(who, stripe);
        }

        public void Leave(string who, int stripe)
        {
            _inside--;
            _core.Exit(stripe);
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
