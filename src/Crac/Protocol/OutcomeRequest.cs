namespace Crac.Protocol;

internal sealed record OutcomeRequest(string CheckpointId);
