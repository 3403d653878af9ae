using Crac.Coordination;
using Crac.Engines;
using Crac.Engines.Criu;

namespace Crac.Protocol;

internal sealed record OutcomeReply
{
    public required CheckpointState State { get; init; }

    public CheckpointPhase? Phase { get; init; }

    /// <summary>Set when <see cref="State"/> is done.</summary>
    public CheckpointReportMessage? Report { get; init; }

    /// <summary>Set while the process waits for the tool to dump it.</summary>
    public DumpInstructions? Dump { get; init; }

    /// <summary>While parked: what the checkpoint did automatically so far (the process may not report again before it is imaged).</summary>
    public IReadOnlyList<CheckpointAction>? Actions { get; init; }

    /// <summary>While parked: the phases the process finished so far, with their durations (its report after the dump may never come).</summary>
    public IReadOnlyList<PhaseMessage>? Phases { get; init; }
}
