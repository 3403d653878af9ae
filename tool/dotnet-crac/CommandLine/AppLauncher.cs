using System.Diagnostics;
using Crac.Interop;
using Crac.Tool.CommandLine.Commands;

namespace Crac.Tool.CommandLine;

/// <summary>
/// Starts an application the way a later checkpoint needs it: with the agent loaded, in a session
/// of its own when there is none to inherit (CRIU needs the session leader inside the pid
/// namespace), and, if asked, in a pid namespace of its own so that its restore can never find
/// its pid taken. Shared by <c>run</c> and <c>restore --or-start</c>.
/// </summary>
internal static class AppLauncher
{
    /// <summary>
    /// Starts <paramref name="command"/>. With <paramref name="stdio"/> its stdin is /dev/null and
    /// its stdout and stderr are appended to that file (a detached start never holds our pipes);
    /// otherwise it shares our stdio.
    /// </summary>
    /// <returns>The started process (our child) and the application's own pid, which differs with a pid namespace.</returns>
    public static (Process Child, Func<int> ApplicationPid) Start(IReadOnlyList<string> command, bool collectFdStackTraces, bool pidNamespace, string? stdio)
    {
        var prefix = new List<string>();
        if (pidNamespace)
        {
            // The app is the new namespace's pid 1 and session leader (setsid execs in place: unshare's
            // child leads no process group). Its own /proc (--mount-proc) keeps /proc/self and
            // /proc/<its pid> true. No --kill-child: its parent-death signal would travel into the
            // image and kill the restored app when CRIU exits.
            // Stdio that names a file (/dev/null, a log) is opened again inside: CRIU cannot dump a
            // file opened in another mount namespace ("Can't lookup mount"). Pipes need nothing.
            prefix.AddRange(["unshare", "--pid", "--fork", "--mount-proc", "--", "/bin/bash", "-c", ReopenStdio, "crac-app", "setsid"]);
        }
        else if (Libc.getsid(0) == 0)
        {
            // Without a session leader in this pid namespace (a sandbox or container whose first
            // process never called setsid), CRIU could never dump the app: give it a session of its
            // own. setsid(1) execs in place, as our child is no process-group leader, so the pid stays.
            prefix.Add("setsid");
        }

        List<string> argv = [.. prefix, .. command];
        ProcessStartInfo start;
        if (stdio is null)
        {
            start = new ProcessStartInfo(argv[0]) { UseShellExecute = false };
            argv.Skip(1).ToList().ForEach(start.ArgumentList.Add);
        }
        else
        {
            // A fixed snippet opens the files; the path and the command reach it as data, never as text.
            start = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
            foreach (string argument in (string[])["-c", "exec \"$@\" </dev/null >>\"$CRAC_OUTPUT\" 2>&1", "crac-start", .. argv])
            {
                start.ArgumentList.Add(argument);
            }

            start.Environment["CRAC_OUTPUT"] = stdio;
        }

        RunCommand.ConfigureAgent(start.Environment, collectFdStackTraces);
        if (pidNamespace)
        {
            // Every app alone in its pid namespace is pid 1 there, and names its diagnostics socket
            // and rendezvous by it: a temp directory of its own keeps them apart in a shared /tmp.
            string temporary = Directory.CreateTempSubdirectory($"dotnet-crac-app-").FullName;
            start.Environment["TMPDIR"] = temporary;
        }

        Process child;
        try
        {
            child = Process.Start(start) ?? throw new ToolException(ReturnCode.ArgumentError, $"Could not start {command[0]}.");
        }
        catch (System.ComponentModel.Win32Exception exception)
        {
            throw new ToolException(ReturnCode.ArgumentError, $"Could not start '{start.FileName}': {exception.Message}.");
        }

        // With a pid namespace the application is unshare's child, once it exists (else 0).
        return (child, pidNamespace ? () => Procfs.ReadDescendants(child.Id).FirstOrDefault() : () => child.Id);
    }

    // A fixed bash snippet (dash cannot close fds above 9); the command reaches it as data ("$@"). $$ is the shell, pid 1 of the new
    // /proc. Files above stdio were leaked by our parent (the runtime's own are close-on-exec) and
    // would fail the dump the same way: they are closed.
    private const string ReopenStdio =
        "for f in /proc/$$/fd/*; do fd=${f##*/}; t=$(readlink \"$f\") || continue; case $t in /*) ;; *) continue;; esac; " +
        "if [ \"$fd\" -gt 2 ]; then eval \"exec $fd<&-\"; continue; fi; [ -e \"$t\" ] || continue; " +
        "case $fd in 0) exec 0<\"$t\";; 1) exec 1>>\"$t\";; 2) exec 2>>\"$t\";; esac; done; exec \"$@\"";

    /// <summary>Why a pid namespace of the app's own cannot be made here, or null when it can.</summary>
    public static string? WhyNoPidNamespace() =>
        (Procfs.ReadEffectiveCapabilities() & (1UL << 21)) == 0 ? "a pid namespace needs CAP_SYS_ADMIN, which this process lacks"
        : !File.Exists("/bin/bash") ? "a pid namespace of the app's own is set up with /bin/bash, which is not installed"
        : ExecutableSearch.Find("unshare") is null ? "a pid namespace of the app's own is made with unshare(1) (util-linux), which is not on PATH"
        : null;
}
