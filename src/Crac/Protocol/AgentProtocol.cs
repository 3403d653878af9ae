using System.Buffers.Text;
using System.Diagnostics.Tracing;
using System.Text;

namespace Crac.Protocol;

/// <summary>
/// The contract between the in-process agent and the dotnet-crac tool, defined once for both.
/// </summary>
/// <remarks>
/// The runtime's diagnostics IPC commands are fixed, so the channel is an EventPipe session: the
/// tool enables the agent's EventSource with the request as provider arguments, which the agent
/// receives in OnEventCommand; the reply comes back as events of that EventSource on the session.
/// </remarks>
internal static class AgentProtocol
{
    /// <summary>The agent's EventSource name: the provider the tool enables.</summary>
    public const string ProviderName = "Crac-Agent";

    /// <summary>Sent in every request and every reply event; a mismatch is refused with a clear error.</summary>
    public const int Version = 1;

    /// <summary>The provider-argument keys of a request. Every value is base64url-encoded UTF-8.</summary>
    public static class ArgumentKeys
    {
        public const string Version = "crac.v";
        public const string RequestId = "crac.id";
        public const string Command = "crac.cmd";
        public const string Payload = "crac.payload";
    }

    /// <summary>
    /// Replies are cut into chunks of this many characters: the runtime silently drops an event
    /// whose string payload is much over 32K characters.
    /// </summary>
    public const int ReplyChunkChars = 16_000;

    /// <summary>
    /// A request's encoded payload may not exceed this: the whole request is UTF-16 and must fit
    /// in the runtime's 64 KB IPC message.
    /// </summary>
    public const int MaxEncodedPayloadChars = 28_000;

    public static class Keywords
    {
        /// <summary>Replies to requests (and the heartbeat that reaps sessions of dead clients).</summary>
        public const EventKeywords Reply = (EventKeywords)0x1;

        /// <summary>Checkpoint and restore lifecycle events, for dotnet-trace users.</summary>
        public const EventKeywords Lifecycle = (EventKeywords)0x2;
    }

    public static class EventIds
    {
        public const int Reply = 1;
        public const int Heartbeat = 2;
        public const int CheckpointStarted = 3;
        public const int CheckpointPhase = 4;
        public const int CheckpointCompleted = 5;
        public const int Restored = 6;
    }

    /// <summary>The names TraceEvent gives the events (the EventSource method names).</summary>
    public static class EventNames
    {
        public const string Reply = "Reply";
    }

    public static string Encode(string value) => Base64Url.EncodeToString(Encoding.UTF8.GetBytes(value));

    /// <exception cref="FormatException">The value is not base64url.</exception>
    public static string Decode(string value)
    {
        try
        {
            return Encoding.UTF8.GetString(Base64Url.DecodeFromChars(value));
        }
        catch (FormatException exception)
        {
            throw new FormatException($"'{(value.Length > 40 ? value[..40] + "..." : value)}' is not base64url-encoded.", exception);
        }
    }

    public static string NewRequestId() => Convert.ToHexStringLower(Guid.NewGuid().ToByteArray(), 0, 8);
}
