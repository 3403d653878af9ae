using System.Runtime.CompilerServices;
using Crac.Coordination;
using Crac.FileDescriptors;
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
internal sealed class NpgsqlPools : IResource, IDisposable
{
    public const string AssemblyName = "Npgsql";

    private readonly IReadOnlyList<object> dataSources;
    private readonly ILogger logger;

    // Status and fds count the data sources' connections as closed, as a checkpoint finds them.
    private readonly IDisposable _claim;

    public NpgsqlPools(IReadOnlyList<object> dataSources, ILogger logger)
    {
        this.dataSources = dataSources;
        this.logger = logger;
        HashSet<(string Address, int Port)> servers = [.. dataSources.SelectMany(Servers)];
        _claim = FdClaims.Register(ToString(), entry =>
            entry.Socket is { IsTcp: true, RemoteAddress: { } address, RemotePort: { } port } && servers.Contains((address, port)));
    }

    public void Dispose() => _claim.Dispose();

    /// <summary>The addresses and port a data source connects to (its Host may list several, and names resolve to several addresses).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static IEnumerable<(string Address, int Port)> Servers(object dataSource)
    {
        var builder = new NpgsqlConnectionStringBuilder(((NpgsqlDataSource)dataSource).ConnectionString);
        foreach (string host in (builder.Host ?? "localhost").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            string name = host.Contains(':') && !host.StartsWith('[') ? host[..host.LastIndexOf(':')] : host;
            int port = host.Contains(':') && !host.StartsWith('[') && int.TryParse(host[(host.LastIndexOf(':') + 1)..], out int given) ? given : builder.Port;
            System.Net.IPAddress[] addresses;
            try
            {
                addresses = System.Net.Dns.GetHostAddresses(name);
            }
            catch (System.Net.Sockets.SocketException)
            {
                continue;
            }

            foreach (System.Net.IPAddress address in addresses)
            {
                yield return ((address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address).ToString(), port);
            }
        }
    }

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
