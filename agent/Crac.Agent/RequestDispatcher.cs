using System.Text.Json;
using Crac.Coordination;
using Crac.Engines;
using Crac.Engines.Criu;
using Crac.FileDescriptors;
using Crac.Protocol;

namespace Crac.Agent;

/// <summary>Decodes a request from provider arguments, dispatches it through the handler table and writes the reply.</summary>
internal sealed class RequestDispatcher(AgentEventSource events)
{
    // Replies to requests that change something, by request id: a client that asks again (its first
    // attempt went unanswered) gets the first reply, and the checkpoint is not started twice.
    private const int RememberedReplies = 32;

    private readonly AgentCommandTable _handlers = AgentHandlers.Create(events);
    private readonly Dictionary<string, AgentReply> _replies = new(StringComparer.Ordinal);
    private readonly Queue<string> _replyOrder = new();

    /// <summary>
    /// The status command's work and its reply's JSON, and for each engine a checkpoint request's
    /// JSON and the resolution and preflight of its options, with nothing sent: the first
    /// checkpoint then finds this code compiled (the replies' JSON alone was about 120 methods).
    /// </summary>
    public void WarmUp()
    {
        AgentReply status = Envelope(AgentProtocol.NewRequestId(), AgentCommands.Status.Name) with { Body = _handlers.Invoke(AgentCommands.Status.Name, "{}") };
        _ = JsonSerializer.Serialize(status, CracJsonContext.Default.AgentReply);
        foreach (CheckpointEngine engine in CheckpointEngines.All)
        {
            string request = JsonSerializer.Serialize(new CheckpointRequest { Engine = engine.Name, Timeout = TimeSpan.FromSeconds(30) }, CracJsonContext.Default.CheckpointRequest);
            _ = JsonSerializer.Deserialize(request, CracJsonContext.Default.CheckpointRequest)?.ToOptions();
            ResolvedCheckpointOptions options = CheckpointSettings.Resolve(new CheckpointOptions { Engine = engine.Name, DryRun = true });
            if (options.Engine.Preflight(options, CheckpointTrigger.Agent) is CriuPlan criu)
            {
                // What the process hands the tool when it parks, for no image: its description and JSON.
                RendezvousLink.WarmUp(new DumpInstructions
                {
                    ImageDirectory = Path.GetTempPath(),
                    KeepRunning = false,
                    Settings = criu.Settings.ForDump(FdSummary.Unknown),
                    DumpTimeout = options.Limits.DumpTimeout,
                    Metadata = ImageMetadata.Capture(engine.Name, Coordinator.State.Generation, criuVersion: null) with { Limits = options.Limits },
                });
            }
        }
    }

    public void Dispatch(IDictionary<string, string?> arguments)
    {
        string requestId;
        try
        {
            requestId = Decode(arguments, AgentProtocol.ArgumentKeys.RequestId) ?? throw new FormatException("the request has no id");
        }
        catch (FormatException)
        {
            // Without an id no client could recognise the reply.
            return;
        }

        string command = string.Empty;
        AgentReply? reply;
        lock (_replies)
        {
            _replies.TryGetValue(requestId, out reply);
        }

        if (reply is not null)
        {
            Send(reply);
            return;
        }

        try
        {
            command = Decode(arguments, AgentProtocol.ArgumentKeys.Command) ?? string.Empty;
            string? versionText = Decode(arguments, AgentProtocol.ArgumentKeys.Version);
            reply = !int.TryParse(versionText, out int version) || version != AgentProtocol.Version
                ? Refusal(requestId, command, AgentErrorCode.ProtocolMismatch,
                    $"This agent (dotnet-crac {AgentHandlers.AgentVersion}) speaks protocol {AgentProtocol.Version}, but the request uses protocol '{versionText}'. " +
                    "Use the dotnet-crac tool of the same version as the agent loaded in the process.")
                : Envelope(requestId, command) with { Body = _handlers.Invoke(command, Decode(arguments, AgentProtocol.ArgumentKeys.Payload) ?? "{}") };
        }
        catch (AgentRequestException exception)
        {
            reply = Refusal(requestId, command, exception.Code, exception.Message);
        }
        catch (Exception exception) when (exception is FormatException or JsonException)
        {
            reply = Refusal(requestId, command, AgentErrorCode.BadRequest, $"Malformed '{command}' request: {exception.Message}");
        }
        catch (Exception exception)
        {
            reply = Refusal(requestId, command, AgentErrorCode.Internal, $"The agent failed on '{command}': {exception.GetType().Name}: {exception.Message}");
        }

        if (!_handlers.IsIdempotent(command))
        {
            Remember(reply);
        }

        Send(reply);
    }

    private void Remember(AgentReply reply)
    {
        lock (_replies)
        {
            if (_replies.TryAdd(reply.RequestId, reply))
            {
                _replyOrder.Enqueue(reply.RequestId);
                while (_replyOrder.Count > RememberedReplies)
                {
                    _replies.Remove(_replyOrder.Dequeue());
                }
            }
        }
    }

    private static string? Decode(IDictionary<string, string?> arguments, string key) =>
        arguments.TryGetValue(key, out string? value) && value is not null ? AgentProtocol.Decode(value) : null;

    private static AgentReply Envelope(string requestId, string command) =>
        new() { ProtocolVersion = AgentProtocol.Version, RequestId = requestId, Command = command };

    private static AgentReply Refusal(string requestId, string command, AgentErrorCode code, string message) =>
        Envelope(requestId, command) with { Error = new AgentError(code, message) };

    /// <summary>Cuts the reply into chunks small enough for the runtime to deliver, and writes them in order.</summary>
    private void Send(AgentReply reply)
    {
        string json = JsonSerializer.Serialize(reply, CracJsonContext.Default.AgentReply);
        int chunkCount = Math.Max(1, (json.Length + AgentProtocol.ReplyChunkChars - 1) / AgentProtocol.ReplyChunkChars);
        for (int i = 0; i < chunkCount; i++)
        {
            int start = i * AgentProtocol.ReplyChunkChars;
            string chunk = json.Substring(start, Math.Min(AgentProtocol.ReplyChunkChars, json.Length - start));
            events.Reply(AgentProtocol.Version, reply.RequestId, i, chunkCount, chunk);
        }
    }
}
