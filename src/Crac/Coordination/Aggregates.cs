namespace Crac.Coordination;

/// <summary>The aggregates a notification pass collects its failures into (see <see cref="CracException.IsAggregate"/>).</summary>
internal static class Aggregates
{
    public static CheckpointException Checkpoint() => new() { IsAggregate = true };

    public static RestoreException Restore() => new() { IsAggregate = true };
}
