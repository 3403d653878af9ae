namespace Crac.Engines;

/// <summary>What the restorer hands the restored process: its environment and new arguments.</summary>
internal sealed record RestoreContext(
    IReadOnlyDictionary<string, string>? Environment,
    IReadOnlyList<string>? Arguments,
    DateTimeOffset? RestoreStartedAt);
