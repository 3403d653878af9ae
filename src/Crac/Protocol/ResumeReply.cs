using Crac.Configuration;

namespace Crac.Protocol;

/// <summary>
/// Whether a parked checkpoint was woken, and, when the agent started it, its id and limits: the
/// restorer waits for its after-restore by those.
/// </summary>
internal sealed record ResumeReply(bool Resumed, string? CheckpointId, CheckpointLimits? Limits);
