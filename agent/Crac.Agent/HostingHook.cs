using System.Diagnostics;
using System.Reflection;

namespace Crac.Agent;

/// <summary>
/// Lets an unmodified Generic Host application (ASP.NET Core among them) take part in checkpoints.
/// The host announces itself on its DiagnosticListener ("Microsoft.Extensions.Hosting", event
/// HostBuilding, the hook WebApplicationFactory and the EF Core tools use) just before it builds
/// its services; Crac.Hosting then adds Kestrel's part after every other registration. The agent
/// cannot reference the host's types, so it hands the event's payload over by reflection, and only
/// to a host: a console application never loads Crac.Hosting.
/// </summary>
internal sealed class HostingHook : IObserver<DiagnosticListener>, IObserver<KeyValuePair<string, object?>>
{
    private const string ListenerName = "Microsoft.Extensions.Hosting";

    private HostingHook()
    {
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static void Subscribe() => DiagnosticListener.AllListeners.Subscribe(new HostingHook());

    public void OnNext(DiagnosticListener listener)
    {
        if (listener.Name == ListenerName)
        {
            listener.Subscribe(this, static (name, _, _) => name == "HostBuilding");
        }
    }

    public void OnNext(KeyValuePair<string, object?> value)
    {
        if (value.Key != "HostBuilding" || value.Value is null)
        {
            return;
        }

        Assembly hosting;
        try
        {
            hosting = Assembly.Load("Crac.Hosting");
        }
        catch (FileNotFoundException)
        {
            // Neither the application nor the agent's directory has the hosting integration (an
            // application that references only the Crac package): nothing to do.
            return;
        }

        try
        {
            Type zeroCode = hosting.GetType("Crac.Hosting.ZeroCode", throwOnError: true)!;
            zeroCode.GetMethod("OnHostBuilding", BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static)!.Invoke(null, [value.Value]);
        }
        catch (Exception exception)
        {
            // The application starts regardless, without the hosting integration.
            Exception cause = exception is TargetInvocationException { InnerException: { } inner } ? inner : exception;
            Console.Error.WriteLine(
                $"dotnet-crac agent: the host takes part in checkpoints without its server's drain ({cause.GetType().Name}: {cause.Message}).");
        }
    }

    public void OnCompleted()
    {
    }

    public void OnError(Exception error)
    {
    }
}

/// <summary>
/// Installs <see cref="HostingHook"/> when Microsoft.Extensions.Hosting loads, which is before any
/// host can be built, on the thread that loads it: no race with the agent's own thread. Kept apart
/// from the hook, whose type needs System.Diagnostics.DiagnosticSource loaded: an application
/// without a host pays only for an event handler on Main's thread.
/// </summary>
internal static class HostingHookInstaller
{
    private static int _installed;

    /// <summary>Subscribes now if the hosting library is loaded already, else when it loads.</summary>
    public static void Install()
    {
        AppDomain.CurrentDomain.AssemblyLoad += OnAssemblyLoad;

        // Already loaded (a host built by another startup hook, say): subscribe now.
        foreach (Assembly assembly in AppDomain.CurrentDomain.GetAssemblies())
        {
            if (IsHosting(assembly))
            {
                Subscribe();
                return;
            }
        }
    }

    private static void OnAssemblyLoad(object? sender, AssemblyLoadEventArgs e)
    {
        if (IsHosting(e.LoadedAssembly))
        {
            Subscribe();
        }
    }

    private static bool IsHosting(Assembly assembly) => assembly.FullName?.StartsWith("Microsoft.Extensions.Hosting,", StringComparison.Ordinal) == true;

    private static void Subscribe()
    {
        if (Interlocked.Exchange(ref _installed, 1) == 0)
        {
            AppDomain.CurrentDomain.AssemblyLoad -= OnAssemblyLoad;
            HostingHook.Subscribe();
        }
    }
}
