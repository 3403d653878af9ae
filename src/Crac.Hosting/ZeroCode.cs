using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.Hosting;

namespace Crac.Hosting;

/// <summary>
/// What the agent does for an application that never heard of dotnet-crac. The agent watches the
/// Generic Host's own diagnostic events ("Microsoft.Extensions.Hosting", HostBuilding, the hook
/// WebApplicationFactory and the EF Core tools use) and calls <see cref="OnHostBuilding"/>, which
/// adds the web server's part after every other registration: Kestrel uses the transport
/// registered last, and that must be the one that can stop accepting. It also has the host's
/// configuration reloaded after each restore (<see cref="ConfigurationReload"/>).
/// </summary>
internal static class ZeroCode
{
    /// <summary>Called by the agent (by reflection: it cannot reference the host's types) with the HostBuilding event's payload.</summary>
    [SuppressMessage("Design", "CA1031", Justification = "The application must start whatever happens here.")]
    public static void OnHostBuilding(object builder)
    {
        if (builder is IHostBuilder host)
        {
            host.ConfigureServices((context, services) =>
            {
                WebServerIntegration.TryAdd(services);
                ConfigurationReload.Track(context.Configuration);
            });
        }
    }
}
