using System.CommandLine;
using Crac.Engines.Criu;

namespace Crac.Tool.Criu;

internal static class CriuOptions
{
    public static Option<string?> CriuPathOption() => new("--criu-path")
    {
        Description = $"The criu binary (default: {CriuBinary.PathVariable}, the private install made by .ci/install-criu.sh, then PATH).",
    };
}
