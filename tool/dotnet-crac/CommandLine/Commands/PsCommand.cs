using System.CommandLine;
using Crac.Protocol;
using Crac.Tool.Agent;
using Crac.Tool.Output;

namespace Crac.Tool.CommandLine.Commands;

internal static class PsCommand
{
    public static Command Create()
    {
        var command = new Command("ps", "Lists the .NET processes you can see: whether the dotnet-crac agent is loaded in each, and its checkpointability.");
        Option<OutputFormat> format = CommonOptions.FormatOption();
        command.Options.Add(format);
        CommandRunner.SetAction(command, async (result, cancellationToken) =>
        {
            int[] pids = [.. TargetProcess.PublishedProcesses()];
            ProcessEntry[] entries = await Task.WhenAll(pids.Select(pid => DescribeAsync(pid, cancellationToken))).ConfigureAwait(false);

            if (result.GetValue(format) == OutputFormat.Json)
            {
                ToolJsonContext.Write(entries, ToolJsonContext.Default.ProcessEntryArray);
                return ReturnCode.Ok;
            }

            var table = new TextTable("PID", "NAME", "AGENT", "CHECKPOINTABLE", "COMMAND LINE");
            foreach (ProcessEntry entry in entries)
            {
                string checkpointable = entry.Checkpointability is null ? "-"
                    : entry.Reason is null ? entry.Checkpointability
                    : $"{entry.Checkpointability} ({entry.Reason})";
                table.Add(entry.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture), entry.Name,
                    entry.Agent switch { true => "yes", false => "no", _ => "?" }, checkpointable, entry.CommandLine);
            }

            Console.Out.Write(table.ToString());
            return ReturnCode.Ok;
        });
        return command;
    }

    private static async Task<ProcessEntry> DescribeAsync(int pid, CancellationToken cancellationToken)
    {
        string name = TargetProcess.ReadName(pid);
        string commandLine = TargetProcess.ReadCommandLine(pid);
        bool? agent = null;
        try
        {
            TargetProcess target = TargetProcess.Open(pid);
            agent = target.HasAgent();
            if (agent != true)
            {
                return new ProcessEntry(pid, name, agent, null, null, null, commandLine);
            }

            StatusReply status = await new AgentClient(target).StatusAsync(cancellationToken).ConfigureAwait(false);
            return new ProcessEntry(pid, name, agent, status.Checkpointability.ToString(), status.Reason, status.Engine, commandLine);
        }
        catch (ToolException exception)
        {
            // One process that cannot be asked must not hide the others.
            return new ProcessEntry(pid, name, agent, null, exception.Message, null, commandLine);
        }
    }
}
