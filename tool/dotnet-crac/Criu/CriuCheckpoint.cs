using System.Diagnostics;
using Crac.Engines;
using Crac.Engines.Criu;
using Crac.Interop;
using Crac.Protocol;
using Crac.Tool.Agent;

namespace Crac.Tool.Criu;

/// <summary>
/// The tool's half of a criu checkpoint: the process has run its coordination, settled its CRIU
/// settings and waits; the (privileged) tool writes the image with CRIU as the instructions say.
/// The process is then gone, or, with keep-running or after a failure, is told to carry on.
/// </summary>
internal static class CriuCheckpoint
{
    public static Task<ToolDumpResult> DumpAsync(
        TargetProcess target, DumpInstructions instructions, string? criuPath, IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken) =>
        Task.Run(() => Dump(target, instructions, criuPath, labels), cancellationToken);

    /// <summary>
    /// What only the dumping side knows, added to what the process said of itself: whether it is in
    /// namespaces of its own (CRIU then takes them into the image), the operator's labels, and who took it.
    /// </summary>
    private static ImageMetadata Describe(TargetProcess target, ImageMetadata metadata, IReadOnlyDictionary<string, string> labels) =>
        metadata with
        {
            OwnPidNamespace = Procfs.HasOtherNamespace(target.Pid, "pid"),
            OwnMountNamespace = Procfs.HasOtherNamespace(target.Pid, "mnt"),
            SharedTemporaryDirectory = Procfs.SeesOnOurRoot(target.Pid, metadata.TemporaryDirectory),
            Labels = labels,
            CreatedBy = $"dotnet-crac {typeof(CriuCheckpoint).Assembly.GetName().Version?.ToString(3)} as {Environment.UserName}@{Environment.MachineName}",
        };

    private static ToolDumpResult Dump(TargetProcess target, DumpInstructions instructions, string? criuPath, IReadOnlyDictionary<string, string> labels)
    {
        CriuBinary criu;
        try
        {
            // The version probe runs while the process's diagnostics sessions close (the tool's own
            // last one takes about 100 ms, the runtime's flush): neither waits for the other.
            string? path = criuPath ?? TrustedCriuPath(target, instructions);
            Task<CriuBinary> locating = Task.Run(() => CriuBinary.Locate(path));
            CriuDump.WaitForDiagnosticsClientsToLeave(target.Pid);
            criu = locating.GetAwaiter().GetResult();
            CriuDump.Prepare(criu, instructions.ImageDirectory, Describe(target, instructions.Metadata, labels), instructions.Settings);
        }
        catch (Exception exception) when (exception is CriuUnavailableException or InvalidOperationException or IOException or UnauthorizedAccessException)
        {
            string doctor = exception is CriuUnavailableException ? " (`dotnet crac doctor` checks the CRIU set-up)" : string.Empty;
            return new ToolDumpResult(false, false, exception.Message + doctor, []);
        }

        var stopwatch = Stopwatch.StartNew();
        string? failure = CriuDump.RunExternal(criu, target.Pid, instructions);
        var phases = new List<PhaseMessage> { new(CheckpointPhase.CriuDump, stopwatch.Elapsed.TotalMilliseconds) };

        // Without keep-running, CRIU killed the dumped process; it lingers as a zombie until its parent reaps it.
        return new ToolDumpResult(failure is null, failure is null && !instructions.KeepRunning, failure, phases);
    }

    /// <summary>
    /// The criu binary the process was configured with, if the tool may run it: a tool running as
    /// another user (root, for an unprivileged app) never executes a path that user chose.
    /// </summary>
    private static string? TrustedCriuPath(TargetProcess target, DumpInstructions instructions)
    {
        if (instructions.CriuPath is not { } path || Procfs.ReadUid(target.Pid) == Libc.geteuid())
        {
            return instructions.CriuPath;
        }

        throw new InvalidOperationException(
            $"Process {target.Display} names the criu binary {path} (engine option criu-path), but it runs as another user than dotnet crac: " +
            "a privileged tool does not run a binary chosen by another user. Choose it yourself with --criu-path.");
    }
}
