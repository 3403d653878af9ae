namespace Crac.Engines.Criu;

/// <summary>
/// Tells a restored process from the original without being told: CRIU restores into a new time
/// namespace (so that monotonic clocks do not jump), so /proc/self/ns/time changes across a restore.
/// </summary>
internal sealed class RestoreDetector
{
    private readonly string? _before = TimeNamespace();

    public bool Restored => _before is not null && TimeNamespace() is { } now && now != _before;

    private static string? TimeNamespace()
    {
        try
        {
            return new FileInfo("/proc/self/ns/time").LinkTarget;
        }
        catch (IOException)
        {
            return null;
        }
    }
}
