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
        // After a restore, in this order: the machine (environment, time zone, memory) first, so
        // everything after it, the reseed included, runs against this host's settings.
        Coordinator.Global.Agent.Register(RestoredMachine.Instance);
        Coordinator.Global.Agent.Register(RandomGenerators.Instance);
    }
}
