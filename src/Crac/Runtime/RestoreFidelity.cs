using Crac.Coordination;

namespace Crac.Runtime;

/// <summary>
/// What the runtime's restore-fidelity resources found at the last restore, for status; each
/// finding is also in that restore's report. A finding that can be seen again at any time (the
/// CPUs now against those at the checkpoint) is assessed afresh by MachineSnapshot.
/// </summary>
internal static class RestoreFidelity
{
    public const string ReportSource = "restore fidelity";

    private static readonly Lock Gate = new();
    private static readonly Dictionary<string, FidelityFinding> Latest = new(StringComparer.Ordinal);
    private static int _generation = -1;

    /// <summary>Records a finding of the restore running now: kept for status, and listed in the restore's report.</summary>
    public static void Record(FidelityFinding finding)
    {
        lock (Gate)
        {
            if (_generation != Coordinator.State.Generation)
            {
                // A new restore: the previous one's findings no longer describe this process.
                Latest.Clear();
                _generation = Coordinator.State.Generation;
            }

            Latest[finding.Area] = finding;
        }

        CheckpointActions.Record(ReportSource, Describe(finding));
    }

    /// <summary>A finding as the restore's report lists it.</summary>
    public static string Describe(FidelityFinding finding) => $"{finding.Area}: {Diagnostics.WireNames.Of(finding.State)}: {finding.Detail}";

    /// <summary>The last restore's findings, in the order they were made (empty for a process never restored).</summary>
    public static IReadOnlyList<FidelityFinding> Findings()
    {
        lock (Gate)
        {
            return _generation == Coordinator.State.Generation ? [.. Latest.Values] : [];
        }
    }

    /// <summary>For tests: forgets every finding.</summary>
    internal static void Reset()
    {
        lock (Gate)
        {
            Latest.Clear();
            _generation = -1;
        }
    }
}
