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
        TargetProcess target, DumpInstructions instructions, Locator criu, IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken) =>
        Task.Run(() => Dump(target, instructions, criu, labels), cancellationToken);

    /// <summary>
    /// The criu binary the operator chose (--criu-path) or the default search found, located and
    /// version-checked in the background from the moment the process accepted the checkpoint.
    /// </summary>
    public sealed class Locator
    {
        private readonly Task<CriuBinary> _located;

        private Locator(string? operatorPath)
        {
            OperatorPath = operatorPath;
            _located = Task.Run(() => CriuBinary.Locate(operatorPath));
        }

        /// <summary>--criu-path, if given.</summary>
        public string? OperatorPath { get; }

        public static Locator Start(string? operatorPath) => new(operatorPath);

        /// <summary>The binary at <paramref name="path"/>: the one already located when it is the operator's choice or the default, else located now.</summary>
        public CriuBinary For(string? path) => path == OperatorPath ? _located.GetAwaiter().GetResult() : CriuBinary.Locate(path);
    }

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

    private static ToolDumpResult Dump(TargetProcess target, DumpInstructions instructions, Locator locator, IReadOnlyDictionary<string, string> labels)
    {
        CriuBinary criu;
        try
        {
            // The operator's --criu-path wins; else the process's criu-path option, if it may be run; else the default search.
            string? path = locator.OperatorPath ?? TrustedCriuPath(target, instructions);
            CriuDump.WaitForDiagnosticsClientsToLeave(target.Pid);
            criu = locator.For(path);
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
