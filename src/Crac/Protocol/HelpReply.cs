namespace Crac.Protocol;

internal sealed record HelpReply(string AgentVersion, int ProtocolVersion, IReadOnlyList<CommandDescription> Commands)
{
    public static HelpReply Describe(string agentVersion) =>
        new(agentVersion, AgentProtocol.Version, [.. AgentCommands.All.Select(command => command.Describe())]);
}
