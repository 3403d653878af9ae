using System.Text.Json.Serialization;
using Crac.Diagnostics;

namespace Crac.Engines.Criu;

/// <summary>
/// Everything the tool needs to dump a process that waits for it, settled by the process's own
/// preflight: the tool neither parses engine options nor resolves settings again. The settings
/// are a closed set of typed flags, and the tool turns them into CRIU's argument vector with
/// <see cref="CriuCommandLine.Dump"/>: a privileged tool never runs argument text an unprivileged
/// process chose.
/// </summary>
internal sealed record DumpInstructions
{
    public required string ImageDirectory { get; init; }

    public required bool KeepRunning { get; init; }

    public required CriuSettings Settings { get; init; }

    /// <summary>The criu-path engine option the process was given, if any.</summary>
    public string? CriuPath { get; init; }

    /// <summary>How long CRIU's dump may run (the checkpoint's limits).</summary>
    [JsonConverter(typeof(DurationJsonConverter))]
    public required TimeSpan DumpTimeout { get; init; }

    /// <summary>What the process says of itself, to be written beside the image.</summary>
    public required ImageMetadata Metadata { get; init; }

    /// <summary>CRIU's arguments (after the binary) to dump the process the tool knows as <paramref name="pid"/>.</summary>
    public IReadOnlyList<string> DumpArguments(int pid) => CriuCommandLine.Dump(pid, ImageDirectory, Settings, KeepRunning);
}
