using Crac.Engines;

namespace Crac.Coordination;

/// <summary>How long one phase of a checkpoint took.</summary>
internal sealed record PhaseTiming(CheckpointPhase Phase, TimeSpan Duration);
