namespace Crac.Engines;

/// <summary>Who asked for the checkpoint: the application itself, or an operator through the agent.</summary>
internal enum CheckpointTrigger
{
    /// <summary>Core.CheckpointRestore in the application: the process runs the whole checkpoint itself.</summary>
    Api,

    /// <summary>The dotnet-crac tool through the agent: an engine that needs privileges leaves that step to the tool.</summary>
    Agent,
}
