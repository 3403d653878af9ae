using Crac.Protocol;

namespace Crac.Tool.Criu;

/// <summary>How the tool's dump of a waiting process went.</summary>
internal sealed record ToolDumpResult(bool Succeeded, bool ProcessGone, string? Failure, IReadOnlyList<PhaseMessage> Phases);
