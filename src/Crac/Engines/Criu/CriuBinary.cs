using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Crac.Engines.Criu;

/// <summary>
/// Finds CRIU and tells whether it can work here. Looked for, in order: an explicit path (option),
/// CRAC_CRIU_PATH, the project's private install (.tools/criu/criu, made by .ci/install-criu.sh),
/// then PATH.
/// </summary>
internal sealed partial record CriuBinary(string Path, Version Version)
{
    public const string PathVariable = "CRAC_CRIU_PATH";

    /// <summary>
    /// Where CRIU (as root) keeps what it probed of the kernel, criu.kdat, between calls; it keeps
    /// it only on a tmpfs (criu/kerndat.c, kerndat_save_cache), as it must not outlive a reboot.
    /// </summary>
    public const string KernelProbeCacheDirectory = "/run";

    /// <summary>
    /// The oldest CRIU that works on current kernels: 3.17 fails on the vDSO of Linux 6.x
    /// ("Unexpected rt vDSO area bounds"), 4.1 on any TCP socket on Linux 6.16 and later.
    /// </summary>
    public static readonly Version MinimumVersion = new(4, 2);

    /// <summary>Every place looked at, in order, with what was found there.</summary>
    public static IReadOnlyList<(string Source, string? Path)> Candidates(string? explicitPath)
    {
        var candidates = new List<(string, string?)>
        {
            ("the --criu-path option / criu-path engine option", NullIfEmpty(explicitPath)),
            ($"{PathVariable}", NullIfEmpty(Environment.GetEnvironmentVariable(PathVariable))),
        };
        foreach (string start in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory }.Distinct())
        {
            for (DirectoryInfo? directory = new(start); directory is not null; directory = directory.Parent)
            {
                string candidate = System.IO.Path.Combine(directory.FullName, ".tools", "criu", "criu");
                if (File.Exists(candidate))
                {
                    candidates.Add(("the private install (.ci/install-criu.sh)", candidate));
                    break;
                }
            }
        }

        candidates.Add(("PATH", Interop.ExecutableSearch.Find("criu")));
        return candidates;
    }

    /// <exception cref="CriuUnavailableException">No usable CRIU; the message says what to do.</exception>
    public static CriuBinary Locate(string? explicitPath)
    {
        (string path, string source) = Find(explicitPath);
        Version? version = ReadVersion(path, out string output);
        if (version is null)
        {
            throw new CriuUnavailableException($"{path} (from {source}) is not a working CRIU: `criu --version` said: {output.Trim()}");
        }

        if (version < MinimumVersion)
        {
            throw new CriuUnavailableException(TooOldMessage(path, version));
        }

        return new CriuBinary(path, version);
    }

    /// <summary>
    /// The CRIU to run, without running it: a restore is on the path to a service's first answer,
    /// so it does not spend a `criu --version` on it (<see cref="ExplainFailure"/> does, when CRIU fails).
    /// </summary>
    /// <exception cref="CriuUnavailableException">None was found; the message says what to do.</exception>
    public static (string Path, string Source) Find(string? explicitPath)
    {
        foreach ((string source, string? path) in Candidates(explicitPath))
        {
            if (path is null)
            {
                continue;
            }

            if (!File.Exists(path))
            {
                throw new CriuUnavailableException($"CRIU was set to {path} (by {source}), but there is no such file.");
            }

            return (path, source);
        }

        throw new CriuUnavailableException(
            "CRIU is not installed. dotnet-crac needs CRIU 4.2 or newer: run .ci/install-criu.sh from the dotnet-crac repository " +
            $"(a private install that changes nothing on the system), or install a criu >= 4.2 package, or point {PathVariable} at one.");
    }

    /// <summary>After CRIU failed: why, if it is not a CRIU that can work here (not CRIU at all, or too old); else null.</summary>
    public static string? ExplainFailure(string path)
    {
        Version? version = ReadVersion(path, out string output);
        return version is null ? $"{path} is not a working CRIU: `criu --version` said: {output.Trim()}"
            : version < MinimumVersion ? TooOldMessage(path, version)
            : null;
    }

    public static string TooOldMessage(string path, Version version) =>
        $"{path} is CRIU {version}, too old for this kernel ({Environment.OSVersion.Version}): dotnet-crac needs {MinimumVersion} or newer. " +
        "CRIU 3.x fails with 'vdso: Unexpected rt vDSO area bounds' and 4.1 fails on TCP sockets with 'Can't get 1:16 opt'. " +
        $"Run .ci/install-criu.sh for a private CRIU 4.2, or point {PathVariable} at one.";

    public static Version? ReadVersion(string path, out string output)
    {
        output = Run(path, ["--version"], TimeSpan.FromSeconds(10), out _);
        Match match = VersionPattern().Match(output);
        return match.Success ? Version.Parse(match.Groups[1].Value.Count(c => c == '.') == 0 ? match.Groups[1].Value + ".0" : match.Groups[1].Value) : null;
    }

    /// <summary>
    /// Runs CRIU with an argument vector (never a shell string) and returns stdout and stderr
    /// together. A restore must not capture them: the restored process inherits CRIU's stdio,
    /// and would hold a capture pipe open for ever; it gives CRIU files instead (<paramref name="stdio"/>).
    /// <paramref name="environment"/> is added to CRIU's (its action script reads it).
    /// </summary>
    public static string Run(
        string path, IEnumerable<string> arguments, TimeSpan timeout, out int exitCode, StdioFiles? stdio = null, string? boundedLog = null,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        ProcessStartInfo start = CreateStart(path, arguments, stdio, environment);
        try
        {
            using Process process = StartPrivately(start);
            Task<string> stdout = stdio is null ? process.StandardOutput.ReadToEndAsync() : Task.FromResult(string.Empty);
            Task<string> stderr = stdio is null ? process.StandardError.ReadToEndAsync() : Task.FromResult(string.Empty);
            if (WaitBounded(process, timeout, boundedLog) is { } stopped)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit();
                exitCode = -1;
                return stopped;
            }

            exitCode = process.ExitCode;
            return stdout.GetAwaiter().GetResult() + stderr.GetAwaiter().GetResult();
        }
        catch (System.ComponentModel.Win32Exception exception)
        {
            exitCode = -1;
            return exception.Message;
        }
    }

    /// <summary>CRIU's start: its argument vector, and with <paramref name="stdio"/> its stdin, stdout and stderr opened on those files.</summary>
    public static ProcessStartInfo CreateStart(string path, IEnumerable<string> arguments, StdioFiles? stdio, IReadOnlyDictionary<string, string>? environment)
    {
        var start = new ProcessStartInfo(stdio is null ? path : "/bin/sh")
        {
            RedirectStandardOutput = stdio is null,
            RedirectStandardError = stdio is null,
            UseShellExecute = false,
        };
        if (stdio is not null)
        {
            // A fixed snippet opens the files; the paths and CRIU's arguments reach it as data, never as text.
            foreach (string argument in (string[])["-c", "exec \"$@\" <\"$CRAC_STDIN\" >>\"$CRAC_STDOUT\" 2>>\"$CRAC_STDERR\"", "crac-criu", path])
            {
                start.ArgumentList.Add(argument);
            }

            start.Environment["CRAC_STDIN"] = stdio.Input;
            start.Environment["CRAC_STDOUT"] = stdio.Output;
            start.Environment["CRAC_STDERR"] = stdio.Error;
        }

        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach ((string name, string value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        return start;
    }

    /// <summary>
    /// Waits for CRIU within <paramref name="timeout"/> while its log stays under <see cref="LogLimit"/>:
    /// on a damaged image CRIU can loop, writing gigabytes of log (6.5 GB in 300 s at -v4 for a
    /// truncated pages file). Null when CRIU ended, else why it must be stopped.
    /// </summary>
    public static string? WaitBounded(Process process, TimeSpan timeout, string? log)
    {
        var waited = Stopwatch.StartNew();
        while (!process.WaitForExit(TimeSpan.FromMilliseconds(log is null ? timeout.TotalMilliseconds : 50)))
        {
            if (log is not null && LogSize(log) > LogLimit)
            {
                return $"CRIU was stopped: its log {log} passed {LogLimit / (1 << 20)} MiB (CRIU loops on a damaged image this way). Check the image (`dotnet crac inspect`), or take a new checkpoint.";
            }

            if (waited.Elapsed >= timeout)
            {
                return $"CRIU did not finish within {timeout.TotalSeconds:0} s and was stopped.";
            }
        }

        return null;
    }

    /// <summary>The most CRIU may write to one log: a normal restore of a 200 MB image writes a few MB at -v4.</summary>
    public const long LogLimit = 64L << 20;

    private static long LogSize(string path)
    {
        try
        {
            return new FileInfo(path).Length;
        }
        catch (IOException)
        {
            return 0;
        }
    }

    /// <summary>
    /// Starts CRIU with umask 077: it creates image and log files with the umask's mode, and an
    /// image holds the whole memory of the process, so they must be private from the start.
    /// </summary>
    public static Process StartPrivately(ProcessStartInfo start)
    {
        uint previous = Interop.Libc.umask(0b000_111_111);
        try
        {
            return Process.Start(start) ?? throw new CriuException($"Could not start {start.FileName}.");
        }
        finally
        {
            Interop.Libc.umask(previous);
        }
    }

    private static string? NullIfEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;

    [GeneratedRegex(@"Version:\s*(\d+(?:\.\d+){0,2})")]
    private static partial Regex VersionPattern();
}
