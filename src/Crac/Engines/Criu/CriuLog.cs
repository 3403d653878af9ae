using System.Text;

namespace Crac.Engines.Criu;

/// <summary>Reads what CRIU said about a failure, and what the operator can do about it.</summary>
internal static class CriuLog
{
    // CRIU prints these on every run, successful or not.
    private static readonly string[] Noise = ["Can't setup RLIMIT_NOFILE", "Will restore", "Can't keep kdat cache"];

    private static readonly (string Symptom, string Fix)[] Hints =
    [
        ("Some file locks are hold", "A FileStream holds a lock: close the file in a resource's BeforeCheckpointAsync, add a 'reopen' resource policy, or use the engine option file-locks=true."),
        ("External socket is used", "A diagnostics client (dotnet-trace, dotnet-counters, another dotnet-crac) is connected to the process: stop it and checkpoint again."),
        ("Can't dump half of stream unix connection", "A diagnostics client (dotnet-trace, dotnet-counters, another dotnet-crac) is connected to the process: stop it and checkpoint again."),
        ("Connected TCP socket", "An established TCP connection is open: close it in a resource, or use the engine option tcp-established=true (or tcp-close=true)."),
        ("not a session leader", "The process is not a session leader: use the engine option shell-job=true."),
        ("Unexpected rt vDSO area bounds", "This CRIU is too old for the kernel: install CRIU 4.2 or newer (.ci/install-criu.sh)."),
        ("Can't get 1:16 opt", "This CRIU is too old for the kernel's TCP sockets: install CRIU 4.2 or newer (.ci/install-criu.sh)."),
        ("CAP_SYS_ADMIN or the CAP_CHECKPOINT_RESTORE", "CRIU needs privileges: run as root (sudo dotnet crac ...), or give it CAP_CHECKPOINT_RESTORE and CAP_SYS_PTRACE."),
        ("Can't get rlimit", "CRIU could not read the process's limits: dumping another user's process needs CAP_SYS_RESOURCE as well (run as full root; in a container, --privileged)."),
        ("Can't fork for", "The process id is taken: the original is still running or not yet reaped, or another process got the pid."),
        ("Can't bind inet socket", "A port the image's sockets are bound to is taken on this host (a listener Kestrel keeps through a checkpoint included): stop what holds it (`ss -tlnp sport = :PORT` shows it; the original process, if the checkpoint left it running), then restore again."),
        ("has bad size", "A file the image expects has changed size since the checkpoint (a log written after it?): close such files before the checkpoint, or take a new one."),
    ];

    /// <summary>The stats file CRIU writes at the end of a successful dump.</summary>
    public const string DumpStats = "stats-dump";

    /// <summary>The error lines of a CRIU log and output, with hints, for an exception message.</summary>
    public static string Summarize(string action, int exitCode, string? logPath, string output)
    {
        var lines = new List<string>();
        if (logPath is not null && File.Exists(logPath))
        {
            lines.AddRange(File.ReadLines(logPath).Where(IsError));
        }

        lines.AddRange(output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(line => IsError(line) || line.Contains("CAP_", StringComparison.Ordinal) || line.StartsWith("criu:", StringComparison.Ordinal)));
        lines = lines.Distinct().ToList();

        var text = new StringBuilder($"CRIU {action} failed (exit code {exitCode})");
        text.Append(lines.Count == 0 ? "." : ":");
        foreach (string line in lines.Take(20))
        {
            text.Append('\n').Append(line.Trim());
        }

        if (lines.Count == 0 && !string.IsNullOrWhiteSpace(output))
        {
            text.Append('\n').Append(output.Trim());
        }

        string all = string.Join('\n', lines) + output;
        foreach ((string symptom, string fix) in Hints)
        {
            if (all.Contains(symptom, StringComparison.Ordinal))
            {
                text.Append("\nFix: ").Append(fix);
            }
        }

        if (logPath is not null)
        {
            text.Append("\nThe full log is ").Append(logPath).Append('.');
        }

        return text.ToString();
    }

    private static bool IsError(string line) =>
        line.Contains("Error (", StringComparison.Ordinal) && !Noise.Any(noise => line.Contains(noise, StringComparison.Ordinal));

    /// <summary>
    /// Whether an image's dump finished: CRIU writes its stats file (<c>stats-dump</c>) only then,
    /// right before the log's "Dumping finished successfully" (criu/cr-dump.c, cr_dump_finish), and a
    /// checkpoint clears an old image's files first. The log's line, which only -v3 and above
    /// write, is accepted too.
    /// </summary>
    public static bool DumpFinished(string directory)
    {
        if (File.Exists(Path.Combine(directory, DumpStats)))
        {
            return true;
        }

        try
        {
            using var log = new FileStream(Path.Combine(directory, CriuCommandLine.DumpLog), FileMode.Open, FileAccess.Read);
            log.Seek(Math.Max(0, log.Length - 512), SeekOrigin.Begin);
            return new StreamReader(log).ReadToEnd().Contains("Dumping finished successfully", StringComparison.Ordinal);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }
}
