namespace Crac.Engines;

/// <summary>What wakes a parked checkpoint, sent by the tool through the agent or by the self-dump watcher.</summary>
internal sealed record RestoreSignal(ResumeKind Kind, RestoreContext? Context = null, string? Failure = null);
