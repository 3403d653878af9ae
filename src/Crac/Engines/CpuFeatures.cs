namespace Crac.Engines;

/// <summary>
/// Compares the instruction sets an image's JIT may have used with what this host's CPU offers.
/// Restoring JIT code that uses AVX-512 on a CPU without it would crash later, at random.
/// </summary>
internal static class CpuFeatures
{
    // .NET's name for an instruction set, and the flag /proc/cpuinfo shows for it.
    private static readonly Dictionary<string, string> CpuInfoFlags = new(StringComparer.Ordinal)
    {
        ["Sse"] = "sse", ["Sse2"] = "sse2", ["Sse3"] = "pni", ["Ssse3"] = "ssse3", ["Sse41"] = "sse4_1", ["Sse42"] = "sse4_2",
        ["Popcnt"] = "popcnt", ["Aes"] = "aes", ["Pclmulqdq"] = "pclmulqdq", ["Avx"] = "avx", ["Avx2"] = "avx2", ["Fma"] = "fma",
        ["Bmi1"] = "bmi1", ["Bmi2"] = "bmi2", ["Lzcnt"] = "abm", ["AvxVnni"] = "avx_vnni", ["Avx512F"] = "avx512f",
        ["Avx512BW"] = "avx512bw", ["Avx512CD"] = "avx512cd", ["Avx512DQ"] = "avx512dq", ["Avx512Vbmi"] = "avx512vbmi",
        ["Gfni"] = "gfni", ["X86Serialize"] = "serialize",
        ["AdvSimd"] = "asimd", ["Crc32"] = "crc32", ["Dp"] = "asimddp", ["Rdm"] = "asimdrdm", ["Sha1"] = "sha1", ["Sha256"] = "sha2",
    };

    // The knob that stops the runtime from using each set, for images meant for a wider fleet.
    private static readonly Dictionary<string, string> DisableKnobs = new(StringComparer.Ordinal)
    {
        ["Avx512F"] = "DOTNET_EnableAVX512F=0", ["Avx512BW"] = "DOTNET_EnableAVX512F=0", ["Avx512CD"] = "DOTNET_EnableAVX512F=0",
        ["Avx512DQ"] = "DOTNET_EnableAVX512F=0", ["Avx512Vbmi"] = "DOTNET_EnableAVX512F=0", ["AvxVnni"] = "DOTNET_EnableAVXVNNI=0",
        ["Avx2"] = "DOTNET_EnableAVX2=0", ["Avx"] = "DOTNET_EnableAVX=0", ["Fma"] = "DOTNET_EnableFMA=0", ["Bmi1"] = "DOTNET_EnableBMI1=0",
        ["Bmi2"] = "DOTNET_EnableBMI2=0", ["Lzcnt"] = "DOTNET_EnableLZCNT=0", ["Popcnt"] = "DOTNET_EnablePOPCNT=0",
        ["Gfni"] = "DOTNET_EnableGFNI=0", ["Sse42"] = "DOTNET_EnableSSE42=0", ["Sse41"] = "DOTNET_EnableSSE41=0",
    };

    /// <summary>The instruction sets the image needs that this CPU lacks (empty when it can restore).</summary>
    /// <remarks>
    /// A set is present when this process's runtime reports it (the same CPUID reading the image's list came from)
    /// or /proc/cpuinfo shows its flag (for a tool told to avoid a set, or compiled ahead of time). Either alone
    /// is wrong somewhere: a hypervisor can hide a flag from cpuinfo that CPUID reports (no "abm" for LZCNT on an
    /// AMD EPYC guest, seen here, so an image refused on the host that made it).
    /// </remarks>
    public static IReadOnlyList<string> Missing(IEnumerable<string> required, ISet<string>? hostFlags = null, IReadOnlyCollection<string>? hostSets = null)
    {
        hostFlags ??= Interop.Procfs.ReadCpuFlags();
        hostSets ??= ImageMetadata.UsableInstructionSets();
        return required.Where(set => !hostSets.Contains(set) && CpuInfoFlags.TryGetValue(set, out string? flag) && !hostFlags.Contains(flag)).ToArray();
    }

    public static string MissingMessage(IReadOnlyList<string> missing)
    {
        string knobs = string.Join(" ", missing.Select(set => DisableKnobs.GetValueOrDefault(set)).OfType<string>().Distinct());
        return $"This CPU lacks instruction sets the image's code may use: {string.Join(", ", missing)}. " +
               "Restore it on a CPU that has them, or take the checkpoint for a wider fleet: start the application with " +
               (knobs.Length > 0 ? knobs : "the matching DOTNET_Enable<ISA>=0 settings") +
               " (the JIT then avoids those sets) and checkpoint again.";
    }
}
