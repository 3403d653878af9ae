using System.Runtime.CompilerServices;
using System.Runtime.Loader;

/// <summary>
/// The entry point the runtime calls for DOTNET_STARTUP_HOOKS (or the STARTUP_HOOKS property the
/// Crac package sets), before the application's Main.
/// </summary>
public static class StartupHook
{
    public static void Initialize()
    {
        // Both before Main, on Main's thread, and cheap: the application may build its host
        // before the agent's own thread has run. The agent's assemblies resolve from its directory.
        ResolveFromAgentDirectory();
        InstallHostingHook();

        // Recording fd origins must be in place before the application opens anything, so in
        // that (diagnostic, opt-in) mode the agent starts before Main, on Main's thread.
        if (string.Equals(Environment.GetEnvironmentVariable("CRAC_COLLECT_FD_STACKTRACES"), "true", StringComparison.OrdinalIgnoreCase))
        {
            Start(leaveStartUpFirst: false);
            return;
        }

        // Otherwise everything happens on a thread of the agent's own, so the application's
        // start-up does not wait for it: the start-up benchmark holds the agent to a few percent.
        new Thread(() => Start(leaveStartUpFirst: true)) { IsBackground = true, Name = "crac-agent-start" }.Start();
    }

    private static void Start(bool leaveStartUpFirst)
    {
        try
        {
            StartAgent(leaveStartUpFirst);
        }
        catch (Exception exception)
        {
            // The agent must never take the application down: it runs on, uncoordinated. A type or
            // member missing from Crac.dll means the application loads an older Crac: say so.
            string? incompatible = null;
            if (exception is TypeLoadException or MissingMemberException)
            {
                try
                {
                    incompatible = IncompatibleCrac();
                }
                catch (Exception)
                {
                    // Only a better message: the exception's own is reported instead.
                }
            }

            string reason = incompatible ?? $"{exception.GetType().Name}: {exception.Message}";
            Console.Error.WriteLine($"dotnet-crac agent: not started ({reason}). The application runs without checkpoint coordination.");
        }
    }

    /// <summary>
    /// Loaded by path into an app that may not reference Crac: find Crac.dll (and the hosting
    /// integration, Crac.Hosting and Crac.AspNetCore) beside this assembly. An app that references
    /// the packages resolves its own copies first (Resolving runs only when the default probing
    /// fails), so there is one global context either way.
    /// </summary>
    private static void ResolveFromAgentDirectory()
    {
        string? directory = Path.GetDirectoryName(typeof(StartupHook).Assembly.Location);
        if (string.IsNullOrEmpty(directory))
        {
            return;
        }

        AssemblyLoadContext.Default.Resolving += (context, name) =>
            name.Name is "Crac" or "Crac.Hosting" or "Crac.AspNetCore" && File.Exists(Path.Combine(directory, name.Name + ".dll"))
                ? context.LoadFromAssemblyPath(Path.Combine(directory, name.Name + ".dll"))
                : null;
    }

    private static void InstallHostingHook()
    {
        try
        {
            Crac.Agent.HostingHookInstaller.Install();
        }
        catch (Exception exception)
        {
            Console.Error.WriteLine($"dotnet-crac agent: hosts will not take part in checkpoints by themselves ({exception.GetType().Name}: {exception.Message}).");
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static string? IncompatibleCrac() => Crac.Agent.AgentHost.IncompatibleCrac();

    // Kept out of Start so that Crac's types are resolved only after the handler above is in place.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void StartAgent(bool leaveStartUpFirst) => Crac.Agent.AgentHost.Start(leaveStartUpFirst);
}
