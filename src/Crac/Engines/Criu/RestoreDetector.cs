using Crac.Interop;

namespace Crac.Engines.Criu;

/// <summary>
/// Tells a restored process from the original without being told: CRIU restores into a new time
/// namespace (so that monotonic clocks do not jump), so /proc/self/ns/time changes across a restore.
/// </summary>
internal sealed class RestoreDetector
{
    private readonly string? _before = Procfs.ReadTimeNamespace();

    public bool Restored => _before is not null && Procfs.ReadTimeNamespace() is { } now && now != _before;
}
