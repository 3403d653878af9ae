using Crac.Protocol;

namespace Crac.Agent;

/// <summary>A handler refuses a request: the tool gets the code and the message, which names the cause and the fix.</summary>
internal sealed class AgentRequestException(AgentErrorCode code, string message) : Exception(message)
{
    public AgentErrorCode Code { get; } = code;
}
