using Crac.Configuration;
using Crac.Coordination;
using Crac.FileDescriptors;
using Crac.Runtime;

namespace Crac.Agent;

/// <summary>Starts the agent once per process, however many ways it was loaded.</summary>
internal static class AgentHost
{
    private static int _started;

    public static void Start()
    {
        if (Interlocked.Exchange(ref _started, 1) != 0)
        {
            return;
        }

        // The EventSource must exist before a session starts, or the session's command is lost.
        _ = AgentEventSource.Log;
        Coordinator.Global.Agent.Register(StackTraceSymbolCache.Instance);
        FileDescriptorResource.Install();
        if (FdOrigins.Enabled)
        {
            FdOrigins.Start();
        }

        Coordinator.Completed += AgentEventSource.Log.OnCheckpointCompleted;
        if (string.Equals(Environment.GetEnvironmentVariable(CracEnvironment.EngineOptions), "help", StringComparison.OrdinalIgnoreCase))
        {
            Console.Error.WriteLine(EngineHelp.Describe(null));
        }
    }
}
