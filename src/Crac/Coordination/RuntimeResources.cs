namespace Crac.Coordination;

/// <summary>
/// The agent's installing of the runtime's resources (the fd tier, Random, the machine's view),
/// which it leaves until after the application's start-up. Apart from <see cref="Coordinator"/>,
/// so that the agent can announce it at start-up without setting up the coordination.
/// </summary>
internal static class RuntimeResources
{
    /// <summary>
    /// Set by the agent as it starts: has it install the resources at once if it is still leaving
    /// the start-up to the application, and completes when they are installed.
    /// </summary>
    public static Func<Task>? Install { get; set; }

    /// <summary>Completes when the agent, if there is one, has installed them; a checkpoint waits for it.</summary>
    public static Task WhenInstalled() => Install?.Invoke() ?? Task.CompletedTask;

    /// <summary>Whether they are installed (or there is no agent), waiting at most <paramref name="timeout"/>: a verdict taken before would miss what they check.</summary>
    public static bool WaitUntilInstalled(TimeSpan timeout) => WhenInstalled().Wait(timeout);
}
