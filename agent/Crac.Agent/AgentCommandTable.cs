using System.Collections;
using System.Text.Json;
using Crac.Protocol;

namespace Crac.Agent;

/// <summary>
/// The agent's handlers, looked up by command name. Each is added with its command's definition,
/// so the request it decodes and the reply it encodes are the ones the client uses.
/// </summary>
internal sealed class AgentCommandTable : IEnumerable<AgentCommand>
{
    private readonly Dictionary<string, (AgentCommand Command, Func<string, JsonElement> Invoke)> _handlers = new(StringComparer.Ordinal);

    public void Add<TRequest, TReply>(AgentCommand<TRequest, TReply> command, Func<TRequest, TReply> handler) =>
        _handlers.Add(command.Name, (command, payload => command.SerializeReply(handler(command.DeserializeRequest(payload)))));

    /// <summary>Decodes the payload, runs the handler and encodes its reply.</summary>
    /// <exception cref="AgentRequestException">The command is unknown, or its handler refused the request.</exception>
    /// <exception cref="JsonException">The payload is not the command's request.</exception>
    public JsonElement Invoke(string command, string payload) =>
        _handlers.TryGetValue(command, out var handler)
            ? handler.Invoke(payload)
            : throw new AgentRequestException(AgentErrorCode.UnknownCommand,
                $"Unknown command '{command}'. The commands are: {string.Join(", ", _handlers.Keys)}.");

    /// <summary>Whether running the command again is harmless (an unknown one changes nothing).</summary>
    public bool IsIdempotent(string command) => !_handlers.TryGetValue(command, out var handler) || handler.Command.Idempotent;

    public IEnumerator<AgentCommand> GetEnumerator() => _handlers.Values.Select(h => h.Command).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
