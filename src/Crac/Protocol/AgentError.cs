namespace Crac.Protocol;

/// <summary>A refused request: why, and what to do.</summary>
internal sealed record AgentError(AgentErrorCode Code, string Message);
