using System.Diagnostics;
using Crac.Configuration;
using Crac.Engines;
using Crac.Engines.Criu;
using Crac.Protocol;
using Crac.Tool.Agent;

namespace Crac.Tool.Criu;

/// <summary>How the tool's dump of a waiting process went.</summary>
internal sealed record ToolDumpResult(bool Succeeded, bool ProcessGone, string? Failure, IReadOnlyList<PhaseMessage> Phases);

/// <summary>
/// The tool's half of a criu checkpoint: the process has run its coordination and waits; the
/// (privileged) tool writes the image with CRIU. The process is then gone, or, with
/// keep-running or after a failure, is told to carry on.
/// </summary>
internal static class CriuCheckpoint
{
    private static readonly TimeSpan DumpTimeout = TimeSpan.FromMinutes(5);

    public static Task<ToolDumpResult> DumpAsync(TargetProcess target, DumpInstructions instructions, string? criuPath, CancellationToken cancellationToken) =>
        Task.Run(() => Dump(target, instructions, criuPath), cancellationToken);

    private static ToolDumpResult Dump(TargetProcess target, DumpInstructions instructions, string? criuPath)
    {
        var stopwatch = Stopwatch.StartNew();
        CriuBinary criu;
        CriuSettings settings;
        try
        {
            EngineOptionValues options = EngineOptionValues.Parse(CheckpointEngines.Find("criu")!, instructions.EngineOptions);
            criu = CriuBinary.Locate(criuPath ?? NullIfEmpty(options.GetString("criu-path")));
            settings = CriuDump.Prepare(criu, instructions.ImageDirectory, instructions.Metadata, options);
        }
        catch (Exception exception) when (exception is CriuUnavailableException or InvalidOperationException or ArgumentException or IOException or UnauthorizedAccessException)
        {
            string doctor = exception is CriuUnavailableException ? " (`dotnet crac doctor` checks the CRIU set-up)" : string.Empty;
            return new ToolDumpResult(false, false, exception.Message + doctor, []);
        }

        TimeSpan prepared = stopwatch.Elapsed;
        string? failure = CriuDump.RunExternal(criu, target.Pid, instructions.ImageDirectory, settings, instructions.KeepRunning, DumpTimeout);
        TimeSpan dumped = stopwatch.Elapsed - prepared;
        var phases = new List<PhaseMessage> { new("criu-dump", dumped.TotalMilliseconds) };
        if (failure is not null)
        {
            return new ToolDumpResult(false, false, failure, phases);
        }

        if (instructions.KeepRunning)
        {
            return new ToolDumpResult(true, false, null, phases);
        }

        // CRIU killed the dumped process; it lingers as a zombie until its parent reaps it.
        return new ToolDumpResult(true, true, null, phases);
    }

    private static string? NullIfEmpty(string value) => value.Length == 0 ? null : value;
}
