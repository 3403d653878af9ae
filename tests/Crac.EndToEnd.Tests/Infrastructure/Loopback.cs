using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Crac.EndToEnd.Tests.Infrastructure;

/// <summary>Ports and connections on the loopback interface.</summary>
internal static class Loopback
{
    /// <summary>A port free right now (the system's choice, released at once).</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>How many established TCP connections have <paramref name="port"/> as their local port (the server's side), from /proc/net/tcp.</summary>
    public static int EstablishedTo(int port)
    {
        string hex = port.ToString("X4", CultureInfo.InvariantCulture);
        return File.ReadLines("/proc/net/tcp").Skip(1)
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Count(fields => fields.Length > 3 && fields[1].EndsWith(":" + hex, StringComparison.Ordinal) && fields[3] == "01");
    }
}
