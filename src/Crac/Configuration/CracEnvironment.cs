namespace Crac.Configuration;

/// <summary>The environment variables of the configuration scheme, shared by every engine.</summary>
internal static class CracEnvironment
{
    public const string Engine = "CRAC_ENGINE";
    public const string CheckpointTo = "CRAC_CHECKPOINT_TO";
    public const string EngineOptions = "CRAC_ENGINE_OPTIONS";
    public const string CheckpointTimeout = "CRAC_CHECKPOINT_TIMEOUT";
}
