using System.Diagnostics;

namespace Crac.EndToEnd.Tests.Infrastructure;

/// <summary>
/// Starts programs with their stdout and stderr in files, not pipes: a process restored by CRIU
/// inherits the restorer's stdio, and a pipe read to its end would never end.
/// </summary>
internal static class ProcessRunner
{
    /// <param name="ownSession">
    /// Start the program as the leader of a session of its own, as a service manager does. CRIU
    /// cannot dump a process whose session leader is outside its pid namespace, and the test
    /// host's may be (CI's is). setsid(1) execs in place here, so the pid is the program's.
    /// </param>
    public static Process Start(
        string program, IEnumerable<string> arguments, string stdout, string? stderr, IDictionary<string, string?>? environment, bool ownSession = false)
    {
        var start = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        // A fixed script; the program and its arguments arrive as "$@".
        string exec = ownSession ? "exec setsid \"$@\"" : "exec \"$@\"";
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(stderr is null
            ? exec + " </dev/null >>\"$CRAC_TEST_STDOUT\" 2>&1"
            : exec + " </dev/null >>\"$CRAC_TEST_STDOUT\" 2>>\"$CRAC_TEST_STDERR\"");
        start.ArgumentList.Add("sh");
        start.ArgumentList.Add(program);
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["CRAC_TEST_STDOUT"] = stdout;
        start.Environment["CRAC_TEST_STDERR"] = stderr ?? string.Empty;
        foreach (string name in start.Environment.Keys.Where(n => n.StartsWith("CRAC_", StringComparison.Ordinal) && !n.StartsWith("CRAC_TEST_", StringComparison.Ordinal)).ToList())
        {
            // The test host's own settings must not leak into the processes under test.
            start.Environment.Remove(name);
        }

        start.Environment.Remove("DOTNET_STARTUP_HOOKS");
        if (environment is not null)
        {
            foreach ((string name, string? value) in environment)
            {
                start.Environment[name] = value;
            }
        }

        if (environment?.TryGetValue("CRAC_TEST_AS_USER", out string? user) == true && user is not null)
        {
            // Run as another user (for permission tests): setpriv keeps the argument vector intact.
            start.ArgumentList.Insert(0, "/bin/sh");
            start.FileName = "setpriv";
            start.ArgumentList.Insert(0, "--clear-groups");
            start.ArgumentList.Insert(0, "--regid=65534");
            start.ArgumentList.Insert(0, $"--reuid={user}");
            start.Environment["HOME"] = Path.GetTempPath();
            start.Environment["DOTNET_CLI_HOME"] = Path.GetTempPath();
        }

        return Process.Start(start) ?? throw new InvalidOperationException($"Could not start {program}.");
    }

    public static Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, string what) => WaitUntilAsync(condition, timeout, () => what);

    /// <summary>Waits for a condition; <paramref name="what"/> is asked only on a timeout, to describe the state then.</summary>
    public static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, Func<string> what)
    {
        var stopwatch = Stopwatch.StartNew();
        while (!condition())
        {
            if (stopwatch.Elapsed > timeout)
            {
                throw new TimeoutException($"Timed out after {timeout.TotalSeconds:0.#} s waiting for {what()}.");
            }

            await Task.Delay(20);
        }
    }

    /// <summary>Waits until an app started some other way (dotnet crac run, script) writes "ready pid=N" to a file, and returns N.</summary>
    public static async Task<int> WaitForReadyPidAsync(string output, string what)
    {
        await WaitUntilAsync(() => File.Exists(output) && File.ReadAllText(output).Contains("ready pid="), TimeSpan.FromSeconds(30), what);
        string text = File.ReadAllText(output);
        // Under `dotnet crac run` the app may be pid 1 of a namespace of its own: run names its pid here.
        return PidNamedByRun(text) is > 0 and var hostPid
            ? hostPid
            : int.Parse(System.Text.RegularExpressions.Regex.Match(text, @"ready pid=(\d+)").Groups[1].Value);
    }

    /// <summary>The pid `dotnet crac run` says it started the app as (in a pid namespace of its own), or 0.</summary>
    public static int PidNamedByRun(string output) =>
        System.Text.RegularExpressions.Regex.Match(output, @"dotnet-crac: started the app as pid (\d+)") is { Success: true } match
            ? int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)
            : 0;

    /// <summary>The process's fd table with each fd's flags, for a failure message.</summary>
    public static string DescribeDescriptors(int pid)
    {
        try
        {
            return "\n--- fds of " + pid + "\n" + string.Join('\n', Directory.GetFiles($"/proc/{pid}/fd").Select(fd =>
                $"{Path.GetFileName(fd)} -> {new FileInfo(fd).LinkTarget} {File.ReadLines($"/proc/{pid}/fdinfo/{Path.GetFileName(fd)}").FirstOrDefault(l => l.StartsWith("flags:"))}"));
        }
        catch (IOException exception)
        {
            return $"\n(fds of {pid} unreadable: {exception.Message})";
        }
    }

    /// <summary>A file another process may still be writing (or deleting); empty when it does not exist yet.</summary>
    public static string ReadShared(string path)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            return new StreamReader(stream).ReadToEnd();
        }
        catch (FileNotFoundException)
        {
            return string.Empty;
        }
    }

    /// <summary>
    /// The pid of the live process whose command line starts with <paramref name="start"/> (say,
    /// <c>dotnet /path/app.dll</c>: not the launcher that has it among its arguments) and contains
    /// every fragment, or 0.
    /// </summary>
    public static int FindByCommandLine(string start, params string[] fragments)
    {
        foreach (string directory in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(directory), out int pid) && pid != Environment.ProcessId)
            {
                try
                {
                    string commandLine = File.ReadAllText(Path.Combine(directory, "cmdline")).Replace('\0', ' ');
                    if (commandLine.StartsWith(start, StringComparison.Ordinal) && fragments.All(f => commandLine.Contains(f, StringComparison.Ordinal)) && IsAlive(pid))
                    {
                        return pid;
                    }
                }
                catch (IOException)
                {
                }
                catch (UnauthorizedAccessException)
                {
                }
            }
        }

        return 0;
    }

    /// <summary>Whether the process exists and is not a zombie.</summary>
    public static bool IsAlive(int pid) => Crac.Interop.ProcStat.Read(pid) is { IsDead: false };
}
