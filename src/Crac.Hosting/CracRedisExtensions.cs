using Crac.Hosting.Pools;
using StackExchange.Redis;

namespace Crac.Hosting;

/// <summary>StackExchange.Redis's part in a checkpoint.</summary>
public static class CracRedisExtensions
{
    /// <summary>
    /// Routes the multiplexer's connections through dotnet-crac's transport hook: before a
    /// checkpoint its connections are closed and its reconnect waits; after the restore it
    /// reconnects (and resubscribes) by itself. A tunnel already set is kept and called as before.
    /// </summary>
    /// <param name="options">The options the multiplexer is created with.</param>
    /// <returns>The same options.</returns>
    /// <example><code>var redis = ConnectionMultiplexer.Connect(ConfigurationOptions.Parse("localhost:6379").WithCrac());</code></example>
    public static ConfigurationOptions WithCrac(this ConfigurationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Tunnel is not RedisConnections.CracTunnel)
        {
            options.Tunnel = new RedisConnections.CracTunnel(options.Tunnel);
        }

        RedisConnections.Instance.EnsureRegistered();
        return options;
    }
}
