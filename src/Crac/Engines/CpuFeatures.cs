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
    /// A set is present when this process's runtime reports it (the same CPUID reading the image's list came from),
    /// CPUID itself shows a set that needs no OS support (<see cref="ScalarSetsByCpuid"/>: a tool compiled ahead of
    /// time reports only its build's baseline), or /proc/cpuinfo shows its flag (a tool told to avoid a set). Any
    /// one alone is wrong somewhere: a hypervisor can hide a flag from cpuinfo that CPUID reports (no "abm" for
    /// LZCNT on an AMD EPYC guest, seen here, so an image was refused on the host that made it).
    /// </remarks>
    public static IReadOnlyList<string> Missing(IEnumerable<string> required, ISet<string>? hostFlags = null, IReadOnlyCollection<string>? hostSets = null)
    {
        hostFlags ??= Interop.Procfs.ReadCpuFlags();
        hostSets ??= [.. ImageMetadata.UsableInstructionSets(), .. ScalarSetsByCpuid()];
        return required.Where(set => !hostSets.Contains(set) && CpuInfoFlags.TryGetValue(set, out string? flag) && !hostFlags.Contains(flag)).ToArray();
    }

    /// <summary>
    /// The sets CPUID reports that work without the OS saving extra register state (so CPUID alone
    /// decides them; the AVX family also needs XSAVE enabled, which cpuinfo reflects). Empty off x64.
    /// </summary>
    public static IReadOnlyList<string> ScalarSetsByCpuid()
    {
        if (!System.Runtime.Intrinsics.X86.X86Base.IsSupported)
        {
            return [];
        }

        (_, _, int ecx1, _) = System.Runtime.Intrinsics.X86.X86Base.CpuId(1, 0);
        (int maxLeaf, _, _, _) = System.Runtime.Intrinsics.X86.X86Base.CpuId(0, 0);
        int ebx7 = maxLeaf >= 7 ? System.Runtime.Intrinsics.X86.X86Base.CpuId(7, 0).Ebx : 0;
        (int maxExtended, _, _, _) = System.Runtime.Intrinsics.X86.X86Base.CpuId(unchecked((int)0x80000000), 0);
        int ecxExtended = (uint)maxExtended >= 0x80000001 ? System.Runtime.Intrinsics.X86.X86Base.CpuId(unchecked((int)0x80000001), 0).Ecx : 0;
        (string Set, bool Present)[] sets =
        [
            ("Sse3", Bit(ecx1, 0)), ("Pclmulqdq", Bit(ecx1, 1)), ("Ssse3", Bit(ecx1, 9)), ("Sse41", Bit(ecx1, 19)), ("Sse42", Bit(ecx1, 20)),
            ("Popcnt", Bit(ecx1, 23)), ("Aes", Bit(ecx1, 25)), ("Bmi1", Bit(ebx7, 3)), ("Bmi2", Bit(ebx7, 8)), ("Lzcnt", Bit(ecxExtended, 5)),
        ];
        return [.. sets.Where(set => set.Present).Select(set => set.Set)];

        static bool Bit(int register, int bit) => (register & (1 << bit)) != 0;
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
