using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Crac.Coordination;
using Crac.Engines;
using Crac.FileDescriptors;
using Crac.Management;
using Crac.Protocol;

namespace Crac.Agent;

/// <summary>Decodes a request from provider arguments, runs the command and writes the reply.</summary>
internal sealed class RequestDispatcher(AgentEventSource events)
{
    private static readonly string AgentVersion =
        typeof(RequestDispatcher).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";

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
        try
        {
            command = Decode(arguments, AgentProtocol.ArgumentKeys.Command) ?? string.Empty;
            string? versionText = Decode(arguments, AgentProtocol.ArgumentKeys.Version);
            if (!int.TryParse(versionText, out int version) || version != AgentProtocol.Version)
            {
                ReplyError(requestId, command, AgentErrorCodes.ProtocolMismatch,
                    $"This agent (dotnet-crac {AgentVersion}) speaks protocol {AgentProtocol.Version}, but the request uses protocol '{versionText}'. " +
                    "Use the dotnet-crac tool of the same version as the agent loaded in the process.");
                return;
            }

            string payload = Decode(arguments, AgentProtocol.ArgumentKeys.Payload) ?? "{}";
            switch (command)
            {
                case AgentCommands.Help:
                    Reply(requestId, command, new HelpReply(AgentVersion, AgentProtocol.Version, AgentCommands.All), CracJsonContext.Default.HelpReply);
                    break;
                case AgentCommands.Status:
                    Reply(requestId, command, BuildStatus(), CracJsonContext.Default.StatusReply);
                    break;
                case AgentCommands.Fds:
                    Reply(requestId, command, BuildFds(), CracJsonContext.Default.FdsReply);
                    break;
                case AgentCommands.Checkpoint:
                    StartCheckpoint(requestId, command, Parse(payload, CracJsonContext.Default.CheckpointCommand));
                    break;
                case AgentCommands.Outcome:
                    ReplyOutcome(requestId, command, Parse(payload, CracJsonContext.Default.OutcomeCommand));
                    break;
                case AgentCommands.Resume:
                    Resume(requestId, command, Parse(payload, CracJsonContext.Default.ResumeCommand));
                    break;
                default:
                    ReplyError(requestId, command, AgentErrorCodes.UnknownCommand,
                        $"Unknown command '{command}'. The commands are: {string.Join(", ", AgentCommands.All.Select(c => c.Name))}.");
                    break;
            }
        }
        catch (Exception exception) when (exception is FormatException or JsonException)
        {
            ReplyError(requestId, command, AgentErrorCodes.BadRequest, $"Malformed '{command}' request: {exception.Message}");
        }
        catch (Exception exception)
        {
            ReplyError(requestId, command, AgentErrorCodes.Internal, $"The agent failed on '{command}': {exception.GetType().Name}: {exception.Message}");
        }
    }

    private void StartCheckpoint(string requestId, string command, CheckpointCommand request)
    {
        if (Coordinator.IsRunning || CheckpointJobs.Current is { IsFinished: false })
        {
            ReplyError(requestId, command, AgentErrorCodes.Busy,
                $"A checkpoint is already in progress ({Coordinator.State.CurrentPhase ?? "starting"}); wait for it to finish and try again.");
            return;
        }

        CheckpointJob job = CheckpointJobs.Start(requestId, request, events);
        Reply(requestId, command, new CheckpointAccepted(job.Id), CracJsonContext.Default.CheckpointAccepted);
    }

    private void ReplyOutcome(string requestId, string command, OutcomeCommand request)
    {
        CheckpointJob? job = CheckpointJobs.Find(request.CheckpointId);
        if (job is null)
        {
            ReplyError(requestId, command, AgentErrorCodes.NotFound,
                $"No checkpoint with id {request.CheckpointId} is known to this process (it keeps the last {CheckpointJobs.Capacity}).");
            return;
        }

        Reply(requestId, command, job.ToOutcome(), CracJsonContext.Default.OutcomeReply);
    }

    private void Resume(string requestId, string command, ResumeCommand request)
    {
        RestoreSignalKind kind = request.Kind switch
        {
            ResumeKinds.Restored => RestoreSignalKind.Restored,
            ResumeKinds.KeptRunning => RestoreSignalKind.KeptRunning,
            ResumeKinds.DumpFailed => RestoreSignalKind.DumpFailed,
            _ => throw new FormatException($"unknown resume kind '{request.Kind}' (use {ResumeKinds.Restored}, {ResumeKinds.KeptRunning} or {ResumeKinds.DumpFailed})"),
        };
        var context = new RestoreContext(request.Environment, request.Arguments, request.RestoreStartedAt);
        bool resumed = RestoreGate.TrySignal(new RestoreSignal(kind, context, request.Failure));
        Reply(requestId, command, new ResumeReply(resumed, CheckpointJobs.Current?.Id), CracJsonContext.Default.ResumeReply);
    }

    private static StatusReply BuildStatus()
    {
        CracStatus status = Core.Status;
        int blocking;
        try
        {
            blocking = FdChecks.AssessAll(ResourcePolicies.Load()).Count(a => a.Blocking);
        }
        catch (PolicyFileException)
        {
            blocking = FdChecks.AssessAll(null).Count(a => a.Blocking);
        }

        return new StatusReply
        {
            Pid = Environment.ProcessId,
            AgentVersion = AgentVersion,
            Runtime = System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription,
            Engine = status.Engine,
            Checkpointability = status.Checkpointability.ToString(),
            Reason = status.Reason,
            Generation = status.Generation,
            RestoreTime = status.RestoreTime,
            UptimeSinceRestoreMilliseconds = status.UptimeSinceRestore?.TotalMilliseconds,
            LastRestoreMilliseconds = status.LastRestoreDuration?.TotalMilliseconds,
            LastCheckpointOutcome = status.LastCheckpointOutcome,
            LastCheckpointEngine = status.LastCheckpointEngine,
            LastCheckpointTime = status.LastCheckpointTime,
            LastCheckpointError = status.LastCheckpointError,
            BlockingFds = blocking,
        };
    }

    private static FdsReply BuildFds()
    {
        ResourcePolicies? policies = null;
        string? policyError = null;
        try
        {
            policies = ResourcePolicies.Load();
        }
        catch (PolicyFileException exception)
        {
            policyError = exception.Message;
        }

        IReadOnlyList<FdAssessment> assessments = FdChecks.AssessAll(policies);
        return new FdsReply
        {
            Pid = Environment.ProcessId,
            OriginsCollected = FdOrigins.Tracking,
            PolicyFile = Environment.GetEnvironmentVariable(ResourcePolicies.EnvironmentVariable),
            PolicyError = policyError,
            Fds = assessments.Select(a => new FdMessage
            {
                Fd = a.Entry.Fd,
                Kind = a.Entry.KindName,
                Target = a.Entry.Target,
                Mode = a.Entry.Mode,
                Position = a.Entry.Position,
                CloseOnExec = a.Entry.CloseOnExec,
                Blocking = a.Blocking,
                Reason = a.Reason,
                Socket = a.Entry.Socket?.Describe(),
                Locked = a.Entry.HasLock,
                PolicyRule = a.Rule?.Index,
                PolicyAction = a.Rule?.Action.ToString().ToLowerInvariant(),
                Origin = a.Origin is { } origin
                    ? new FdOriginMessage(origin.ThreadName, origin.Time, origin.ManagedStack, origin.NativeStack)
                    : null,
            }).ToArray(),
        };
    }

    private static string? Decode(IDictionary<string, string?> arguments, string key) =>
        arguments.TryGetValue(key, out string? value) && value is not null ? AgentProtocol.Decode(value) : null;

    private static T Parse<T>(string json, JsonTypeInfo<T> typeInfo) =>
        JsonSerializer.Deserialize(json, typeInfo) ?? throw new FormatException("the payload is empty");

    public void Reply<T>(string requestId, string command, T body, JsonTypeInfo<T> typeInfo) =>
        Send(new AgentReply
        {
            ProtocolVersion = AgentProtocol.Version,
            RequestId = requestId,
            Command = command,
            Body = JsonSerializer.SerializeToElement(body, typeInfo),
        });

    private void ReplyError(string requestId, string command, string code, string message) =>
        Send(new AgentReply
        {
            ProtocolVersion = AgentProtocol.Version,
            RequestId = requestId,
            Command = command,
            Error = new AgentError(code, message),
        });

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
