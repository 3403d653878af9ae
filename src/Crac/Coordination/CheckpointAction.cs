namespace Crac.Coordination;

/// <summary>One thing done automatically for a checkpoint (a lock taken along, a connection closed, requests drained), and by whom.</summary>
internal sealed record CheckpointAction(string Source, string Description);
