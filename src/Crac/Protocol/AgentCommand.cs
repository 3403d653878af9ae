using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Crac.Protocol;

/// <summary>
/// One command of the agent: its name on the wire, what it does, and whether asking twice is
/// harmless. <see cref="AgentCommand{TRequest, TReply}"/> pairs it with its request and reply types.
/// </summary>
internal abstract class AgentCommand(string name, string description, bool idempotent)
{
    public string Name { get; } = name;

    public string Description { get; } = description;

    /// <summary>
    /// Whether the request changes nothing. The client sends an unanswered request again with the
    /// same id; the agent runs an idempotent one again, and answers any other with the reply it gave
    /// that id the first time.
    /// </summary>
    public bool Idempotent { get; } = idempotent;

    /// <summary>The request's fields, as `commands` lists them: read off the contract, never written out twice.</summary>
    public abstract IReadOnlyList<string> RequestFields { get; }

    public CommandDescription Describe() => new(Name, Description, string.Join(", ", RequestFields));
}

/// <summary>A command with its request and reply types: what the client sends and the agent's handler returns.</summary>
internal sealed class AgentCommand<TRequest, TReply>(
    string name, string description, bool idempotent, JsonTypeInfo<TRequest> requestType, JsonTypeInfo<TReply> replyType)
    : AgentCommand(name, description, idempotent)
{
    public JsonTypeInfo<TRequest> RequestType { get; } = requestType;

    public JsonTypeInfo<TReply> ReplyType { get; } = replyType;

    public override IReadOnlyList<string> RequestFields => [.. RequestType.Properties.Select(property => property.Name)];

    public string SerializeRequest(TRequest request) => JsonSerializer.Serialize(request, RequestType);

    /// <exception cref="JsonException">The payload is not this command's request.</exception>
    public TRequest DeserializeRequest(string payload) =>
        JsonSerializer.Deserialize(payload, RequestType) ?? throw new JsonException("the payload is empty");

    public JsonElement SerializeReply(TReply reply) => JsonSerializer.SerializeToElement(reply, ReplyType);

    /// <exception cref="JsonException">The body is not this command's reply.</exception>
    public TReply DeserializeReply(JsonElement body) =>
        body.Deserialize(ReplyType) ?? throw new JsonException("the reply is empty");
}
