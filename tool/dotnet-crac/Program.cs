using System.CommandLine;
using Crac.Tool.CommandLine.Commands;

namespace Crac.Tool;

internal static class Program
{
    public static Task<int> Main(string[] args)
    {
        var root = new RootCommand(
            "Coordinated Restore at Checkpoint for running .NET processes, in the manner of jcmd <pid> JDK.checkpoint.")
        {
            PsCommand.Create(),
            StatusCommand.Create(),
            FdsCommand.Create(),
            CheckpointCommand.Create(),
            RestoreCommand.Create(),
            InspectCommand.Create(),
            RunCommand.Create(),
            DoctorCommand.Create(),
            CommandsCommand.Create(),
        };
        return root.Parse(args).InvokeAsync();
    }
}
