using Crac.Coordination;
using Crac.Engines;

namespace Crac.Protocol;

/// <summary>How long one phase of a checkpoint took.</summary>
internal sealed record PhaseMessage(CheckpointPhase Name, double Milliseconds)
{
    public static PhaseMessage From(PhaseTiming timing) => new(timing.Phase, timing.Duration.TotalMilliseconds);
}
