using System.CommandLine;
using System.Diagnostics;
using System.Runtime.InteropServices;
using Crac.FileDescriptors;
using Crac.Interop;
using Crac.Tool.Agent;

namespace Crac.Tool.CommandLine.Commands;

/// <summary>Starts any .NET command with the agent loaded, like <c>dotnet-trace collect -- &lt;command&gt;</c>.</summary>
internal static class RunCommand
{
    public const string StartupHooksVariable = "DOTNET_STARTUP_HOOKS";

    public static Command Create()
    {
        var command = new Command("run", "Runs a .NET command with the dotnet-crac agent loaded: dotnet crac run -- dotnet app.dll");
        var commandLine = new Argument<string[]>("command") { Description = "The command and its arguments, after --.", Arity = ArgumentArity.OneOrMore };
        var collect = new Option<bool>("--collect-fd-stacktraces") { Description = "Record where each file descriptor is opened (CRAC_COLLECT_FD_STACKTRACES=true)." };
        command.Arguments.Add(commandLine);
        command.Options.Add(collect);
        CommandRunner.SetAction(command, async (result, cancellationToken) =>
        {
            string[] arguments = result.GetValue(commandLine) ?? [];

            // Without a session leader in this pid namespace (a sandbox or container whose first
            // process never called setsid), CRIU could never dump the app: give it a session of its
            // own. setsid(1) execs in place, as our child is no process-group leader, so the pid stays.
            bool ownSession = Libc.getsid(0) == 0;
            var start = new ProcessStartInfo(ownSession ? "setsid" : arguments[0]) { UseShellExecute = false };
            foreach (string argument in ownSession ? arguments : arguments.Skip(1))
            {
                start.ArgumentList.Add(argument);
            }

            ConfigureAgent(start.Environment, result.GetValue(collect));
            Process process;
            try
            {
                process = Process.Start(start) ?? throw new ToolException(ReturnCode.ArgumentError, $"Could not start {start.FileName}.");
            }
            catch (System.ComponentModel.Win32Exception exception)
            {
                throw new ToolException(ReturnCode.ArgumentError, $"Could not start '{start.FileName}': {exception.Message}.");
            }

            // Ctrl+C reaches the child too (same process group), or is passed on to its own session:
            // wait for it rather than leave it orphaned.
            using var forwardInterrupt = ownSession ? ForwardTo(process, PosixSignal.SIGINT) : null;
            using var forwardTerminate = ownSession ? ForwardTo(process, PosixSignal.SIGTERM) : null;
            await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
            return (ReturnCode)process.ExitCode;
        });
        return command;
    }

    private static PosixSignalRegistration ForwardTo(Process child, PosixSignal signal) =>
        PosixSignalRegistration.Create(signal, context =>
        {
            context.Cancel = true;
            _ = Libc.kill(child.Id, signal == PosixSignal.SIGINT ? Libc.SIGINT : Libc.SIGTERM);
        });

    /// <summary>Adds the agent to DOTNET_STARTUP_HOOKS (keeping hooks already there) and, if asked, fd origin recording.</summary>
    public static void ConfigureAgent(IDictionary<string, string?> environment, bool collectFdStackTraces)
    {
        string agent = TargetProcess.AgentPath;
        environment.TryGetValue(StartupHooksVariable, out string? hooks);
        environment[StartupHooksVariable] = string.IsNullOrEmpty(hooks) ? agent : $"{hooks}{Path.PathSeparator}{agent}";
        if (collectFdStackTraces)
        {
            FdOrigins.ConfigurePreload(environment, AppContext.BaseDirectory);
        }
    }
}
