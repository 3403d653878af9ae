namespace Crac.Tool;

/// <summary>A failure the operator can act on: the message names the cause and the fix.</summary>
internal sealed class ToolException(ReturnCode code, string message, Exception? inner = null) : Exception(message, inner)
{
    public ReturnCode Code { get; } = code;
}
