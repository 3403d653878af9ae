using Crac.Diagnostics;
using Crac.Runtime;

namespace Crac.Tool.Output;

/// <summary>The "Restore fidelity" section of status and restore: each finding with what became of it.</summary>
internal static class FidelityText
{
    public static string Render(IReadOnlyList<FidelityFinding> findings)
    {
        if (findings.Count == 0)
        {
            return string.Empty;
        }

        var text = new System.Text.StringBuilder("Restore fidelity (the last restore):\n");
        foreach (FidelityFinding finding in findings)
        {
            // A column of 22, and at least one space after a longer area (RandomNumberGenerator).
            text.Append("  ").Append((finding.Area + ": ").PadRight(22)).Append(WireNames.Of(finding.State)).Append(": ").Append(finding.Detail).Append('\n');
        }

        return text.ToString();
    }

    /// <summary>The findings a restore report carries (its actions from the restore-fidelity resources).</summary>
    public static IReadOnlyList<FidelityFinding> FromActions(IEnumerable<Coordination.CheckpointAction> actions) =>
        [.. actions.Where(a => a.Source == RestoreFidelity.ReportSource).Select(Parse).OfType<FidelityFinding>()];

    private static FidelityFinding? Parse(Coordination.CheckpointAction action)
    {
        // "area: state: detail", as RestoreFidelity.Record writes it.
        string[] parts = action.Description.Split(": ", 3);
        return parts.Length == 3 && Enum.GetValues<FidelityState>().FirstOrDefault(s => WireNames.Of(s) == parts[1]) is var state && WireNames.Of(state) == parts[1]
            ? new FidelityFinding(parts[0], state, parts[2])
            : null;
    }
}
