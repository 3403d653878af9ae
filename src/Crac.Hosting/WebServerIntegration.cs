using System.Reflection;
using Microsoft.Extensions.DependencyInjection;

namespace Crac.Hosting;

/// <summary>
/// The web server's part lives in Crac.AspNetCore, which needs ASP.NET Core: it is loaded only for
/// a host that has a server (IServer) and only when that assembly can be found (the application
/// references it, or the tool that injected the agent carries it).
/// </summary>
internal static class WebServerIntegration
{
    private const string AssemblyName = "Crac.AspNetCore";
    private const string TypeName = "Crac.AspNetCore.KestrelIntegration";

    /// <summary>Adds the server's part if the host has a server; returns false when it has none or the assembly is missing.</summary>
    public static bool TryAdd(IServiceCollection services)
    {
        if (!services.Any(d => d.ServiceType.FullName == "Microsoft.AspNetCore.Hosting.Server.IServer"))
        {
            return false;
        }

        Assembly assembly;
        try
        {
            assembly = Assembly.Load(AssemblyName);
        }
        catch (IOException)
        {
            return false;
        }

        MethodInfo register = assembly.GetType(TypeName, throwOnError: true)!.GetMethod("Register", BindingFlags.Static | BindingFlags.NonPublic | BindingFlags.Public)
            ?? throw new MissingMethodException(TypeName, "Register");
        register.Invoke(null, [services]);
        return true;
    }
}
