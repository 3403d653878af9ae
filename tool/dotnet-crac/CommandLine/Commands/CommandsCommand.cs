using System.CommandLine;
using Crac.Protocol;
using Crac.Tool.Agent;
using Crac.Tool.Output;

namespace Crac.Tool.CommandLine.Commands;

/// <summary>The agent's own command list, as <c>jcmd &lt;pid&gt; help</c> prints it.</summary>
internal static class CommandsCommand
{
    public static Command Create()
    {
        var command = new Command("commands", "Lists the commands the agent in a process understands (like jcmd <pid> help).");
        var selection = new CommonOptions.ProcessSelection(command);
        CommandRunner.SetAction(command, async (result, cancellationToken) =>
        {
            AgentClient client = selection.Connect(result);
            HelpReply help = await client.HelpAsync(cancellationToken).ConfigureAwait(false);
            TargetProcess target = client.Target;
            if (selection.Format(result) == OutputFormat.Json)
            {
                ToolJsonContext.Write(help, ToolJsonContext.Default.HelpReply);
                return ReturnCode.Ok;
            }

            Console.Out.WriteLine($"Process {target.Display}: dotnet-crac agent {help.AgentVersion}, protocol {help.ProtocolVersion}. The agent's commands:");
            foreach (CommandDescription description in help.Commands)
            {
                Console.Out.WriteLine($"  {description.Name,-11} {description.Description}");
                if (description.Arguments.Length > 0)
                {
                    Console.Out.WriteLine($"  {string.Empty,-11} arguments: {description.Arguments}");
                }
            }

            return ReturnCode.Ok;
        });
        return command;
    }
}
