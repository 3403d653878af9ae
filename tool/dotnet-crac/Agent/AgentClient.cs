using System.Diagnostics.Tracing;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Crac.Protocol;
using Microsoft.Diagnostics.NETCore.Client;
using Microsoft.Diagnostics.Tracing;

namespace Crac.Tool.Agent;

/// <summary>
/// Sends one request to the agent of a process and waits for its reply: a short EventPipe
/// session that enables the agent's EventSource with the request as provider arguments, and
/// reassembles the reply from its Reply events. The session is always stopped (on errors and
/// Ctrl+C too): a session merely disposed stays enabled in the target.
/// </summary>
internal sealed class AgentClient(TargetProcess target)
{
    /// <summary>How long a reply may take. Commands are answered inline, so a reply normally arrives in milliseconds.</summary>
    public static readonly TimeSpan DefaultReplyTimeout = TimeSpan.FromSeconds(5);

    private static readonly TimeSpan FirstAttemptTimeout = TimeSpan.FromSeconds(1);

    // How long a process whose diagnostics connection closed may take to finish exiting before the
    // failure is reported as the channel's rather than as its exit.
    private static readonly TimeSpan DyingProcessGrace = TimeSpan.FromMilliseconds(500);

    private HeldSession? _held;

    public TargetProcess Target { get; } = target;

    public Task<HelpReply> HelpAsync(CancellationToken cancellationToken) =>
        SendAsync(AgentCommands.Help, new HelpRequest(), cancellationToken);

    public Task<StatusReply> StatusAsync(CancellationToken cancellationToken) =>
        SendAsync(AgentCommands.Status, new StatusRequest(), cancellationToken);

    public Task<FdsReply> FdsAsync(FdsRequest request, CancellationToken cancellationToken) =>
        SendAsync(AgentCommands.Fds, request, cancellationToken);

    /// <param name="holdSession">
    /// Keep the request's session open, idle, until <see cref="HangUp"/>. The runtime serves one
    /// diagnostics command at a time, and a stop holds it about 100 ms (FACTS.md): stopped at once,
    /// the session would delay what the process asks of its own runtime while it gets ready (the
    /// heap walker's attach). Hung up once the process has parked, it costs the dump nothing.
    /// </param>
    public async Task<CheckpointReply> CheckpointAsync(CheckpointRequest request, bool holdSession, CancellationToken cancellationToken)
    {
        AgentReply reply = await SendRawAsync(AgentCommands.Checkpoint.Name, AgentCommands.Checkpoint.SerializeRequest(request), DefaultReplyTimeout, cancellationToken,
            retry: true, holdSession: holdSession).ConfigureAwait(false);
        return Validate(AgentCommands.Checkpoint, reply);
    }

    /// <summary>Stops and hangs up the session a request was told to hold, if any.</summary>
    public void HangUp()
    {
        if (Interlocked.Exchange(ref _held, null) is { } held)
        {
            StopAndHangUp(held.Endpoint, held.Session);
        }
    }

    public Task<OutcomeReply> OutcomeAsync(string checkpointId, CancellationToken cancellationToken) =>
        SendAsync(AgentCommands.Outcome, new OutcomeRequest(checkpointId), cancellationToken);

    public Task<ResumeReply> ResumeAsync(ResumeRequest request, CancellationToken cancellationToken) =>
        SendAsync(AgentCommands.Resume, request, cancellationToken);

    /// <summary>Sends a command's request and returns its reply, or throws the agent's refusal as a <see cref="ToolException"/>.</summary>
    private async Task<TReply> SendAsync<TRequest, TReply>(AgentCommand<TRequest, TReply> command, TRequest request, CancellationToken cancellationToken)
    {
        AgentReply reply = await SendRawAsync(command.Name, command.SerializeRequest(request), DefaultReplyTimeout, cancellationToken, retry: true)
            .ConfigureAwait(false);
        return Validate(command, reply);
    }

    /// <summary>The one check of a reply: the agent's refusal becomes the matching return code; a body must be the command's reply.</summary>
    private TReply Validate<TRequest, TReply>(AgentCommand<TRequest, TReply> command, AgentReply reply)
    {
        if (reply.Error is { } error)
        {
            throw new ToolException(
                error.Code == AgentErrorCode.ProtocolMismatch ? ReturnCode.ProtocolMismatch : ReturnCode.AgentError,
                $"The agent in process {Target.Display} refused '{command.Name}': {error.Message}");
        }

        try
        {
            return reply.Body is { } body
                ? command.DeserializeReply(body)
                : throw new JsonException("the reply has no body");
        }
        catch (JsonException exception)
        {
            throw new ToolException(ReturnCode.ProtocolMismatch,
                $"The agent in process {Target.Display} sent a '{command.Name}' reply this dotnet-crac cannot read ({exception.Message}); use the dotnet-crac tool of the agent's version.");
        }
    }

    /// <summary>Sends a request as given (tests use it for malformed ones) and returns the reply as it came, errors included.</summary>
    /// <param name="retry">
    /// A request that goes unanswered (its reply lost, or the process too busy to answer in time)
    /// is asked again, once, with the same request id. One that arrives before the agent's
    /// EventSource exists (the agent leaves the application's start-up to itself first) is not
    /// lost: the EventSource answers it once it is constructed. The agent answers a repeated id of a command that changes something with its first
    /// reply (see <see cref="AgentCommand.Idempotent"/>), so a checkpoint is never started twice.
    /// </param>
    public async Task<AgentReply> SendRawAsync(
        string command, string payload, TimeSpan replyTimeout, CancellationToken cancellationToken, bool retry = false, int protocolVersion = AgentProtocol.Version,
        bool holdSession = false)
    {
        string requestId = AgentProtocol.NewRequestId();
        if (retry && replyTimeout > FirstAttemptTimeout * 2)
        {
            AgentReply? early = await SendOnceAsync(requestId, command, payload, FirstAttemptTimeout, finalAttempt: false, protocolVersion, holdSession, cancellationToken)
                .ConfigureAwait(false);
            if (early is not null)
            {
                return early;
            }

            replyTimeout -= FirstAttemptTimeout;
        }

        return (await SendOnceAsync(requestId, command, payload, replyTimeout, finalAttempt: true, protocolVersion, holdSession, cancellationToken).ConfigureAwait(false))!;
    }

    /// <returns>The reply, or null when none came and this is not the final attempt.</returns>
    private async Task<AgentReply?> SendOnceAsync(
        string requestId, string command, string payload, TimeSpan replyTimeout, bool finalAttempt, int protocolVersion, bool holdSession, CancellationToken cancellationToken)
    {
        var arguments = new Dictionary<string, string>
        {
            [AgentProtocol.ArgumentKeys.Version] = AgentProtocol.Encode(protocolVersion.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            [AgentProtocol.ArgumentKeys.RequestId] = AgentProtocol.Encode(requestId),
            [AgentProtocol.ArgumentKeys.Command] = AgentProtocol.Encode(command),
            [AgentProtocol.ArgumentKeys.Payload] = AgentProtocol.Encode(payload),
        };
        if (arguments[AgentProtocol.ArgumentKeys.Payload].Length > AgentProtocol.MaxEncodedPayloadChars)
        {
            throw new ToolException(ReturnCode.ArgumentError,
                $"The arguments of '{command}' are too large for the diagnostics channel ({payload.Length} characters; the limit is about {AgentProtocol.MaxEncodedPayloadChars * 3 / 4}). Shorten them.");
        }

        var provider = new EventPipeProvider(AgentProtocol.ProviderName, EventLevel.Informational, (long)AgentProtocol.Keywords.Reply, arguments);
        var endpoint = DiagnosticsEndpoint.For(Target);
        EventPipeSession session = await StartSessionAsync(endpoint, provider, command, cancellationToken).ConfigureAwait(false);
        var assembler = new ReplyAssembler(requestId);
        Task processing = Task.Run(() => ReadReplies(session, assembler), CancellationToken.None);
        bool held = false;
        try
        {
            Task finished = await Task.WhenAny(assembler.Completion, processing, Task.Delay(replyTimeout, cancellationToken)).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            if (finished == assembler.Completion)
            {
                AgentReply reply = await assembler.Completion.ConfigureAwait(false);
                if (reply.ProtocolVersion != AgentProtocol.Version)
                {
                    throw new ToolException(ReturnCode.ProtocolMismatch,
                        $"The agent in process {Target.Display} speaks protocol {reply.ProtocolVersion}; this dotnet-crac speaks {AgentProtocol.Version}. " +
                        "Use the dotnet-crac tool of the same version as the agent (the Crac package or the tool that launched the process).");
                }

                if (holdSession && reply.Error is null)
                {
                    HangUp();
                    _held = new HeldSession(endpoint, session);
                    held = true;
                }

                return reply;
            }

            if (finished == processing ? Target.ExitsWithin(DyingProcessGrace) : !Target.IsAlive)
            {
                throw new ToolException(ReturnCode.TargetExited, $"Process {Target.Display} exited while running '{command}'.");
            }

            if (!finalAttempt && finished != processing)
            {
                return null;
            }

            if (finished == processing && processing.Exception is { } readFailure)
            {
                throw new ToolException(ReturnCode.UnknownError, $"Reading the reply of process {Target.Display} failed: {readFailure.GetBaseException().Message}");
            }

            throw Target.HasAgent() == false
                ? new ToolException(ReturnCode.AgentNotLoaded, TargetProcess.AgentNotLoadedMessage(Target.Pid, Target.Name))
                : new ToolException(ReturnCode.Timeout,
                    $"The agent in process {Target.Display} did not answer '{command}' within {replyTimeout.TotalSeconds:0.#} s. " +
                    "The process may be overloaded or stopped (SIGSTOP); check it and try again.");
        }
        finally
        {
            if (!held)
            {
                StopAndHangUp(endpoint, session);
            }
        }
    }

    private async Task<EventPipeSession> StartSessionAsync(
        DiagnosticsEndpoint endpoint, EventPipeProvider provider, string command, CancellationToken cancellationToken)
    {
        try
        {
            return await endpoint.Client.StartEventPipeSessionAsync([provider], requestRundown: false, circularBufferMB: 1, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (IsPermissionDenied(exception))
        {
            throw TargetProcess.PermissionDenied(Target.Pid, Target.Name);
        }
        catch (ServerNotAvailableException exception)
        {
            throw Target.IsAlive
                ? new ToolException(ReturnCode.NotDotNetProcess, $"Process {Target.Display} does not accept diagnostics connections: {exception.Message}", exception)
                : new ToolException(ReturnCode.TargetExited, $"Process {Target.Display} exited before '{command}' could be sent.", exception);
        }
        catch (Exception exception) when (exception is IOException or SocketException or ServerErrorException or EndOfStreamException)
        {
            throw !Target.ExitsWithin(DyingProcessGrace)
                ? new ToolException(ReturnCode.UnknownError, $"Cannot open a diagnostics session with process {Target.Display}: {exception.Message}", exception)
                : new ToolException(ReturnCode.TargetExited, $"Process {Target.Display} exited while running '{command}'.", exception);
        }
    }

    private static bool IsPermissionDenied(Exception exception) =>
        exception is UnauthorizedAccessException
        || exception is SocketException { SocketErrorCode: SocketError.AccessDenied }
        || exception.InnerException is { } inner && IsPermissionDenied(inner);

    private sealed record HeldSession(DiagnosticsEndpoint Endpoint, EventPipeSession Session);

    private static void ReadReplies(EventPipeSession session, ReplyAssembler assembler)
    {
        using var source = new EventPipeEventSource(session.EventStream);
        source.Dynamic.All += data =>
        {
            if (data.ProviderName == AgentProtocol.ProviderName && data.EventName == AgentProtocol.EventNames.Reply)
            {
                assembler.Add(
                    (int)data.PayloadByName("protocolVersion"),
                    (string)data.PayloadByName("requestId"),
                    (int)data.PayloadByName("chunkIndex"),
                    (int)data.PayloadByName("chunkCount"),
                    (string)data.PayloadByName("chunk"));
            }
        };
        source.Process();
    }

    /// <summary>
    /// Stops the session, even when cancelled: without the stop command the provider stays enabled
    /// in the target. The tool hangs up as soon as the runtime has read it (see
    /// <see cref="DiagnosticsEndpoint.StopAndHangUp"/>); a stop lost even so (the target went away,
    /// or never read it) is closed by the agent's SessionReaper.
    /// </summary>
    private static void StopAndHangUp(DiagnosticsEndpoint endpoint, EventPipeSession session)
    {
        try
        {
            endpoint.StopAndHangUp(session);
        }
        catch (Exception exception) when (exception is IOException or ObjectDisposedException or ServerErrorException)
        {
            // The target went away; there is nothing left to stop.
        }
    }
}
