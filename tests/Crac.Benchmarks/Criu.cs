using System.Diagnostics;

namespace Crac.Benchmarks;

/// <summary>Raw CRIU, run as the baselines run it: the same binary the tool uses, no coordination around it.</summary>
internal static class Criu
{
    /// <summary>CRAC_CRIU_PATH (as the tool reads it), else the checkout's private install (.ci/install-criu.sh).</summary>
    public static string Path { get; } = Environment.GetEnvironmentVariable("CRAC_CRIU_PATH") is { Length: > 0 } path
        ? path
        : System.IO.Path.Combine(Apps.Root, ".tools", "criu", "criu");

    /// <summary>Runs CRIU to its end; throws with its log's tail if it fails.</summary>
    public static void Run(params string[] arguments)
    {
        (int exitCode, string output) = Capture(arguments);
        if (exitCode != 0)
        {
            throw new InvalidOperationException($"criu {string.Join(' ', arguments)} failed with {exitCode}: {output}{LogErrors(arguments)}");
        }
    }

    /// <summary>The error lines of the log a failed run wrote (-o, in the -D directory): CRIU says why there, not on stderr.</summary>
    public static string LogErrors(string[] arguments)
    {
        int directory = Array.IndexOf(arguments, "-D");
        int log = Array.IndexOf(arguments, "-o");
        string path = directory >= 0 && log >= 0 ? System.IO.Path.Combine(arguments[directory + 1], arguments[log + 1]) : "";
        return File.Exists(path) ? "\n" + string.Join('\n', File.ReadLines(path).Where(line => line.Contains("Error", StringComparison.Ordinal)).TakeLast(10)) : "";
    }

    /// <summary>`criu dump` of a process as the baselines take it: no coordination, only --shell-job (and <paramref name="extra"/>).</summary>
    public static void Dump(int pid, string image, params string[] extra) =>
        Run(["dump", "-t", pid.ToString(System.Globalization.CultureInfo.InvariantCulture), "-D", image, "-o", "dump.log", "--shell-job", .. extra]);

    /// <summary>`criu restore` of a raw image, detached, as the baselines restore.</summary>
    public static void Restore(string image, params string[] extra) => Run(RestoreArguments(image, extra));

    /// <summary>The argument vector of <see cref="Restore"/>, for a caller that starts CRIU itself.</summary>
    public static string[] RestoreArguments(string image, params string[] extra) =>
        ["restore", "-D", image, "-o", "restore.log", "--shell-job", "--restore-detached", .. extra];

    /// <summary>
    /// Waits until no diagnostics client is connected to the process (CRIU refuses one: "External
    /// socket is used"): a session the tool just stopped takes the runtime ~100 ms to close, and
    /// another tool on this shared machine may be talking to every .NET process. Untimed.
    /// </summary>
    public static void WaitUntilDumpable(int pid)
    {
        if (!Crac.Interop.DiagnosticsSocket.WaitForSessionsToClose(pid, TimeSpan.FromSeconds(10)))
        {
            throw new TimeoutException($"A diagnostics session to process {pid} stayed open for 10 s.");
        }
    }

    public static string Version() => Capture("--version").Output.Split('\n')[0].Replace("Version: ", "", StringComparison.Ordinal).Trim();

    /// <summary>Whether `criu check --feature <paramref name="feature"/>` passes, and what CRIU said.</summary>
    public static (bool Supported, string Message) Check(string feature)
    {
        (int exitCode, string output) = Capture("check", "--feature", feature);
        string message = string.Join(' ', output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            // CRIU's start-up noise on this machine, not the feature's answer.
            .Where(line => !line.Contains("RLIMIT_NOFILE", StringComparison.Ordinal) && !line.Contains("Hardware breakpoints", StringComparison.Ordinal)));
        return (exitCode == 0, message);
    }

    /// <summary>
    /// Starts CRIU's lazy-pages daemon on a local image and waits for its socket, so that a
    /// `criu restore --lazy-pages` of that image can connect; it serves the pages on demand and
    /// in the background, and exits once every page is in.
    /// </summary>
    public static Process StartLazyPages(string image)
    {
        string socket = System.IO.Path.Combine(image, "lazy-pages.socket");
        File.Delete(socket);
        var start = new ProcessStartInfo(Path) { UseShellExecute = false, RedirectStandardError = true };
        foreach (string argument in (string[])["lazy-pages", "-D", image, "-o", "lazy-pages.log"])
        {
            start.ArgumentList.Add(argument);
        }

        Process daemon = Process.Start(start)!;
        Apps.WaitFor(() => File.Exists(socket) || daemon.HasExited, "CRIU's lazy-pages socket");
        return daemon.HasExited ? throw new InvalidOperationException($"criu lazy-pages exited with {daemon.ExitCode}: {daemon.StandardError.ReadToEnd()}") : daemon;
    }

    private static (int ExitCode, string Output) Capture(params string[] arguments)
    {
        var start = new ProcessStartInfo(Path) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        arguments.ToList().ForEach(start.ArgumentList.Add);
        using Process process = Process.Start(start)!;
        Task<string> error = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output + error.Result);
    }
}
