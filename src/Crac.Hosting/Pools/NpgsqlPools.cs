using System.Runtime.CompilerServices;
using Crac.Coordination;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Crac.Hosting.Pools;

/// <summary>
/// Npgsql's pools. Before a checkpoint (once requests are drained and background work paused, so
/// no connection is in use) every data source of the container is cleared, and so is every pool
/// Npgsql keeps for connection strings: their idle physical connections are closed by Npgsql
/// itself. After the restore nothing is needed: the next <c>OpenConnectionAsync</c> opens a new
/// physical connection through the same data source.
/// </summary>
/// <remarks>Npgsql's types are touched only here, and only when the application has loaded Npgsql.</remarks>
internal sealed class NpgsqlPools(IReadOnlyList<object> dataSources, ILogger logger) : IResource
{
    public const string AssemblyName = "Npgsql";

    public Task BeforeCheckpointAsync(Context context, CancellationToken cancellationToken)
    {
        var cleared = new List<string>();
        foreach (object dataSource in dataSources)
        {
            cleared.Add(Clear(dataSource));
        }

        // Pools of connections opened from connection strings (EF Core, legacy code).
        NpgsqlConnection.ClearAllPools();
        string description = cleared.Count == 0
            ? "Npgsql: cleared the connection-string pools (idle connections closed)"
            : $"Npgsql: cleared {cleared.Count} data source(s) and the connection-string pools, idle connections closed ({string.Join("; ", cleared)}); the next query opens a new connection";
        CheckpointActions.Record("hosting", description);
        logger.LogInformation("Checkpoint: {Description}", description);
        return Task.CompletedTask;
    }

    public Task AfterRestoreAsync(Context context, CancellationToken cancellationToken) => Task.CompletedTask;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static string Clear(object dataSource)
    {
        var npgsql = (NpgsqlDataSource)dataSource;
        npgsql.Clear();
        var builder = new NpgsqlConnectionStringBuilder(npgsql.ConnectionString);
        return $"{builder.Host}:{builder.Port}/{builder.Database}";
    }

    /// <summary>Whether a service type is one of Npgsql's data sources (checked by name, so Npgsql is not loaded to find out).</summary>
    public static bool IsDataSource(Type type)
    {
        for (Type? current = type; current is not null; current = current.BaseType)
        {
            if (current.FullName == "Npgsql.NpgsqlDataSource" && current.Assembly.GetName().Name == AssemblyName)
            {
                return true;
            }
        }

        return false;
    }

    public override string ToString() => "Npgsql's connection pools";
}
