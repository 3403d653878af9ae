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

/// <summary>
/// A command with its request and reply types: what the client sends and the agent's handler returns.
/// Their JSON metadata (<see cref="CracJsonContext"/>) is looked up on first use, not when the
/// commands are defined. Building it is mostly JIT compilation of System.Text.Json's generics over
/// the protocol's types: 50-90 ms, which the agent would otherwise spend at start-up beside the
/// application's own start (docs/performance.md, row 8).
/// </summary>
internal sealed class AgentCommand<TRequest, TReply>(string name, string description, bool idempotent)
    : AgentCommand(name, description, idempotent)
{
    private JsonTypeInfo<TRequest>? _requestType;
    private JsonTypeInfo<TReply>? _replyType;

    public JsonTypeInfo<TRequest> RequestType => _requestType ??= TypeInfo<TRequest>();

    public JsonTypeInfo<TReply> ReplyType => _replyType ??= TypeInfo<TReply>();

    public override IReadOnlyList<string> RequestFields => [.. RequestType.Properties.Select(property => property.Name)];

    public string SerializeRequest(TRequest request) => JsonSerializer.Serialize(request, RequestType);

    /// <exception cref="JsonException">The payload is not this command's request.</exception>
    public TRequest DeserializeRequest(string payload) =>
        JsonSerializer.Deserialize(payload, RequestType) ?? throw new JsonException("the payload is empty");

    public JsonElement SerializeReply(TReply reply) => JsonSerializer.SerializeToElement(reply, ReplyType);

    /// <exception cref="JsonException">The body is not this command's reply.</exception>
    public TReply DeserializeReply(JsonElement body) =>
        body.Deserialize(ReplyType) ?? throw new JsonException("the reply is empty");

    private static JsonTypeInfo<T> TypeInfo<T>() =>
        CracJsonContext.Default.GetTypeInfo(typeof(T)) as JsonTypeInfo<T>
        ?? throw new InvalidOperationException($"{typeof(T).Name} is not in {nameof(CracJsonContext)}: add a [JsonSerializable] for it.");
}
