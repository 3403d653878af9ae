using Crac.Coordination;

namespace Crac.Runtime;

/// <summary>
/// The runtime-tier resources that make a restored process right, not just alive: the agent
/// installs them, so an unmodified application gets them. They run in the agent's tier, so after
/// a restore they are done before any application resource is told.
/// </summary>
internal static class RestoreFidelityResources
{
    private static int _installed;

    public static void Install(string? agentDirectory)
    {
        if (Interlocked.Exchange(ref _installed, 1) != 0)
        {
            return;
        }

        HeapWalk.AgentDirectory = agentDirectory;
        // Told of a restore together (the agent's tier), before any application resource: the
        // environment is the restorer's by then (the coordinator applies it first).
        Coordinator.Global.Agent.Register(RestoredMachine.Instance);
        Coordinator.Global.Agent.Register(RandomGenerators.Instance);
    }
}
