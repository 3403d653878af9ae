using System.CommandLine;
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
        var pidNamespace = new Option<bool>("--pid-namespace")
        {
            Description = "Start the app in a pid namespace of its own (needs CAP_SYS_ADMIN), so that its restore can never find its pid taken; not needed in a container, which has one.",
        };
        command.Arguments.Add(commandLine);
        command.Options.Add(collect);
        command.Options.Add(pidNamespace);
        CommandRunner.SetAction(command, async (result, cancellationToken) =>
        {
            bool ownNamespace = result.GetValue(pidNamespace);
            if (ownNamespace && !AppLauncher.CanMakePidNamespace())
            {
                throw new ToolException(ReturnCode.PermissionDenied,
                    "--pid-namespace needs CAP_SYS_ADMIN (run as root, or in a user namespace you own); without it, run the app in a container, which has a pid namespace of its own.");
            }

            bool ownSession = ownNamespace || Libc.getsid(0) == 0;
            (System.Diagnostics.Process process, Func<int> applicationPid) =
                AppLauncher.Start(result.GetValue(commandLine) ?? [], result.GetValue(collect), ownNamespace, stdio: null);
            using (process)
            {
                // Ctrl+C reaches the child too (same process group), or is passed on to its own
                // session: wait for it rather than leave it orphaned.
                using IDisposable? forwarding = ownSession ? SignalForwarding.To(ownNamespace ? await WaitForAsync(applicationPid) : process.Id) : null;
                await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
                return (ReturnCode)process.ExitCode;
            }
        });
        return command;
    }

    /// <summary>The application's pid once unshare has started it (bounded: unshare forks at once).</summary>
    private static async Task<int> WaitForAsync(Func<int> applicationPid)
    {
        for (int attempt = 0; attempt < 500; attempt++)
        {
            if (applicationPid() is > 0 and var pid)
            {
                return pid;
            }

            await Task.Delay(10).ConfigureAwait(false);
        }

        throw new ToolException(ReturnCode.UnknownError, "unshare did not start the application within 5 s.");
    }

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
