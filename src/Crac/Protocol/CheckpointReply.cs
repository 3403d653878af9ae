using Crac.Configuration;

namespace Crac.Protocol;

/// <summary>
/// The acceptance of a checkpoint: its id, and the limits the process will apply. The tool
/// derives every wait of its own from these, so both sides follow one rule.
/// </summary>
internal sealed record CheckpointReply(string CheckpointId, string Engine, CheckpointLimits Limits);
