using System.Text.Json;
using Crac.Protocol;

namespace Crac.Tool.Agent;

/// <summary>Collects the chunks of one reply; replies to other requests (other sessions) are ignored.</summary>
internal sealed class ReplyAssembler(string requestId)
{
    private readonly TaskCompletionSource<AgentReply> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private string?[]? _chunks;

    public Task<AgentReply> Completion => _completion.Task;

    public void Add(int version, string id, int index, int count, string chunk)
    {
        if (id != requestId || count <= 0 || index < 0 || index >= count)
        {
            return;
        }

        _chunks ??= new string?[count];
        if (_chunks.Length != count)
        {
            return;
        }

        _chunks[index] = chunk;
        if (_chunks.Any(c => c is null))
        {
            return;
        }

        try
        {
            AgentReply? reply = JsonSerializer.Deserialize(string.Concat(_chunks), CracJsonContext.Default.AgentReply);
            if (reply is not null)
            {
                // Every event carries the version too: a mismatch in either is a mismatch.
                _completion.TrySetResult(version != AgentProtocol.Version ? reply with { ProtocolVersion = version } : reply);
            }
        }
        catch (JsonException exception)
        {
            _completion.TrySetException(new ToolException(ReturnCode.ProtocolMismatch,
                $"The reply could not be read ({exception.Message}); the agent probably comes from another dotnet-crac version."));
        }
    }
}
