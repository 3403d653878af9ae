// Added to an application's compilation by the Crac package (buildTransitive/Crac.targets):
// it starts the dotnet-crac agent before Main, with no environment variable, and without the
// cost of the runtime's startup-hook machinery.
#pragma warning disable CA2255 // A module initializer is exactly what this is for.
namespace Crac.Generated
{
    internal static class CracAgentInitializer
    {
        [global::System.Runtime.CompilerServices.ModuleInitializer]
        internal static void StartAgent() => global::StartupHook.Initialize();
    }
}
