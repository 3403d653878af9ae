using System.Text.Json;

namespace Crac.Protocol;

/// <summary>The envelope of every reply, as reassembled from its chunk events: an error or a body.</summary>
internal sealed record AgentReply
{
    public required int ProtocolVersion { get; init; }

    public required string RequestId { get; init; }

    public required string Command { get; init; }

    public AgentError? Error { get; init; }

    /// <summary>The command's reply (see <see cref="AgentCommand{TRequest, TReply}.ReplyType"/>).</summary>
    public JsonElement? Body { get; init; }
}
