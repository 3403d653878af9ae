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
        var pidNamespace = new Option<PidNamespaceMode>("--pid-namespace")
        {
            Description = "own: start the app as pid 1 of a pid namespace of its own (needs CAP_SYS_ADMIN), so that its restore can never find its pid taken; "
                + "shared: start it in this one; auto (the default): own where CAP_SYS_ADMIN allows it, else shared, with a warning.",
            DefaultValueFactory = _ => PidNamespaceMode.Auto,
        };
        command.Arguments.Add(commandLine);
        command.Options.Add(collect);
        command.Options.Add(pidNamespace);
        CommandRunner.SetAction(command, async (result, cancellationToken) =>
        {
            bool ownNamespace = ChoosePidNamespace(result.GetValue(pidNamespace));
            bool ownSession = ownNamespace || Libc.getsid(0) == 0;
            (System.Diagnostics.Process process, Func<int> applicationPid) =
                AppLauncher.Start(result.GetValue(commandLine) ?? [], result.GetValue(collect), ownNamespace, stdio: null);
            using (process)
            {
                int pid = ownNamespace ? await WaitForAsync(applicationPid) : process.Id;
                if (ownNamespace)
                {
                    // The app knows itself as pid 1; the operator reaches it by this one (`dotnet crac checkpoint <pid>`).
                    Console.Error.WriteLine($"dotnet-crac: started the app as pid {pid} (pid 1 of a pid namespace of its own).");
                }

                // Ctrl+C reaches the child too (same process group), or is passed on to its own
                // session: wait for it rather than leave it orphaned.
                using IDisposable? forwarding = ownSession ? SignalForwarding.To(pid) : null;
                await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
                return (ReturnCode)process.ExitCode;
            }
        });
        return command;
    }

    /// <summary>
    /// Whether the app gets a pid namespace of its own. It is the default because CRIU restores a
    /// process with its pid, and on a host that pid may be anyone's by the time of the restore; in
    /// a pid namespace of its own the app is pid 1 there and its restore makes a new namespace.
    /// Without CAP_SYS_ADMIN (a rootless container, an unprivileged user) it cannot be made: the
    /// app shares this namespace, and a restore may have to wait for its pid.
    /// </summary>
    private static bool ChoosePidNamespace(PidNamespaceMode mode)
    {
        if (mode == PidNamespaceMode.Shared)
        {
            return false;
        }

        string? cannot = AppLauncher.WhyNoPidNamespace();
        if (mode == PidNamespaceMode.Own && cannot is not null)
        {
            throw new ToolException(ReturnCode.PermissionDenied,
                $"--pid-namespace own: {cannot}. Run as root, or in a container, which has a pid namespace of its own (then use --pid-namespace shared).");
        }

        // An app that checkpoints itself with CRIU would be its namespace's pid 1, whose tree holds the CRIU it starts.
        string? unsuitable = mode == PidNamespaceMode.Auto
            && string.Equals(Environment.GetEnvironmentVariable(Configuration.CracEnvironment.Engine), "criu", StringComparison.OrdinalIgnoreCase)
                ? $"{Configuration.CracEnvironment.Engine}=criu: an app that checkpoints itself runs CRIU, which cannot dump the pid namespace it runs in"
                : null;
        if ((cannot ?? unsuitable) is { } why)
        {
            Console.Error.WriteLine($"dotnet-crac: the app shares this pid namespace ({why}): a restore of its image needs its pid free. --pid-namespace shared silences this.");
            return false;
        }

        return true;
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

/// <summary>Where <c>run</c> starts the app: see <c>RunCommand.ChoosePidNamespace</c>.</summary>
internal enum PidNamespaceMode
{
    Auto,
    Own,
    Shared,
}
