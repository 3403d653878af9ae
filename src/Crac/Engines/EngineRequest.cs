namespace Crac.Engines;

/// <summary>What an engine is asked to do: the options, its own preflight plan, what the fd checks found, and who asked.</summary>
internal sealed record EngineRequest(
    ResolvedCheckpointOptions Options,
    EnginePlan Plan,
    CheckpointTrigger Trigger,
    int Generation,
    FdSummary FdSummary,
    ICheckpointObserver? Observer,
    CancellationToken Deadline);
