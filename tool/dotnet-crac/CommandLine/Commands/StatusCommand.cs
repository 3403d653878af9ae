using System.CommandLine;
using System.Globalization;
using Crac.Protocol;
using Crac.Tool.Agent;
using Crac.Tool.Output;

namespace Crac.Tool.CommandLine.Commands;

internal static class StatusCommand
{
    public static Command Create()
    {
        var command = new Command("status", "Shows whether a process can be checkpointed now, and its checkpoint and restore history.");
        var selection = new CommonOptions.ProcessSelection(command);
        CommandRunner.SetAction(command, async (result, cancellationToken) =>
        {
            AgentClient client = selection.Connect(result);
            StatusReply status = await client.StatusAsync(cancellationToken).ConfigureAwait(false);
            TargetProcess target = client.Target;
            if (selection.Format(result) == OutputFormat.Json)
            {
                ToolJsonContext.Write(status, ToolJsonContext.Default.StatusReply);
                return ReturnCode.Ok;
            }

            Console.Out.Write(Render(target, status));
            return ReturnCode.Ok;
        });
        return command;
    }

    public static string Render(TargetProcess target, StatusReply status)
    {
        string lastCheckpoint = status.LastCheckpointTime is null
            ? status.LastCheckpointOutcome
            : $"{status.LastCheckpointOutcome} ({status.LastCheckpointEngine} engine, {Formatting.Time(status.LastCheckpointTime)})";
        if (status.LastCheckpointError is not null)
        {
            lastCheckpoint += $": {status.LastCheckpointError}";
        }

        var lines = new List<(string, string)>
        {
            ("Engine", status.Engine),
            ("Checkpointable", status.Reason is null ? $"{status.Checkpointability}" : $"{status.Checkpointability}: {status.Reason}"),
            ("Generation", status.Generation.ToString(CultureInfo.InvariantCulture) + (status.Generation == 0 ? " (never restored)" : string.Empty)),
            ("Restore time", Formatting.Time(status.RestoreTime)),
            ("Uptime since restore", status.UptimeSinceRestoreMilliseconds is { } uptime ? Formatting.Duration(uptime) : "-"),
            ("Last restore took", status.LastRestoreMilliseconds is { } restore ? Formatting.Duration(restore) : "-"),
            ("Last checkpoint", lastCheckpoint),
            ("Blocking fds", status.BlockingFds == 0 ? "0" : $"{status.BlockingFds} (dotnet crac fds {status.Pid} lists them)"),
        };
        string text = $"Process {target.Display}: {status.Runtime}, dotnet-crac agent {status.AgentVersion}\n";
        return text + string.Concat(lines.Select(line => $"  {line.Item1 + ":",-22}{line.Item2}\n")) + FidelityText.Render(status.Fidelity);
    }
}
