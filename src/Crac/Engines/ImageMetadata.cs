using System.Globalization;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;
using System.Text.Json;
using Crac.Interop;

namespace Crac.Engines;

/// <summary>
/// What a restore must know about the process in an image: who and what it was, the CPU
/// instruction sets its JIT may have compiled code for, its cgroup limits and the CRIU that took it.
/// </summary>
internal sealed record ImageMetadata
{
    public const string FileName = "crac-image.json";
    public const int CurrentFormat = 1;

    public int Format { get; init; } = CurrentFormat;

    public required string Engine { get; init; }

    public required int Pid { get; init; }

    public required uint Uid { get; init; }

    public required DateTimeOffset CreatedAt { get; init; }

    public required int Generation { get; init; }

    public required string Runtime { get; init; }

    public required string RuntimeDirectory { get; init; }

    public required string? ProcessPath { get; init; }

    public required IReadOnlyList<string> CommandLine { get; init; }

    public required string WorkingDirectory { get; init; }

    public required string Architecture { get; init; }

    /// <summary>The instruction sets the runtime reported as usable, by .NET name (e.g. Avx2).</summary>
    public required IReadOnlyList<string> CpuFeatures { get; init; }

    /// <summary>Whether stdio was a terminal: such a process restores into the restorer's terminal.</summary>
    public required bool Interactive { get; init; }

    public string? CgroupCpuMax { get; init; }

    public string? CgroupMemoryMax { get; init; }

    public string? CriuVersion { get; init; }

    /// <summary>How CRIU dumped the image, so the restore passes matching flags.</summary>
    public Criu.CriuSettings? Criu { get; init; }

    /// <summary>The checkpoint's limits: the restore waits for the after-restore notifications by them.</summary>
    public Configuration.CheckpointLimits? Limits { get; init; }

    /// <summary>The process's temp directory (its TMPDIR) at checkpoint time: where the restorer leaves its hand-over.</summary>
    public string TemporaryDirectory { get; init; } = Path.GetTempPath();

    /// <summary>The process's children and their descendants at checkpoint time: CRIU dumps them with it and restores them with their pids.</summary>
    public IReadOnlyList<int> ChildPids { get; init; } = [];

    /// <summary>What fds 0, 1 and 2 pointed at (the /proc/self/fd links), to hand the restorer's own stdio in their place.</summary>
    public IReadOnlyList<string?> Stdio { get; init; } = [];

    /// <summary>
    /// Whether the process had a pid namespace of its own (a container's, or <c>dotnet crac run
    /// --pid-namespace</c>): CRIU takes it into the image and makes it anew at restore, so the
    /// process's pid (<see cref="Pid"/> is its pid there) cannot collide with a running one.
    /// Set by the dumping tool, which sees both sides.
    /// </summary>
    public bool OwnPidNamespace { get; init; }

    /// <summary>Whether the process had a mount namespace of its own: CRIU takes its mounts (a private /tmp's files too) into the image.</summary>
    public bool OwnMountNamespace { get; init; }

    /// <summary>
    /// Whether a process with a mount namespace of its own had its temp directory on its root
    /// mount, and that root was the dumping tool's (<c>dotnet crac run</c>'s namespace, not a
    /// container's): CRIU rebuilds that mount on the same root, so the directory is this host's,
    /// and a restore hands over through it as for any other process.
    /// </summary>
    public bool SharedTemporaryDirectory { get; init; }

    /// <summary>The operator's labels (<c>checkpoint --label key=value</c>), which a restore can require.</summary>
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>Who took the image: the dumping tool's user and host.</summary>
    public string? CreatedBy { get; init; }

    /// <summary>Describes the calling process (the one to be imaged).</summary>
    public static ImageMetadata Capture(string engine, int generation, string? criuVersion)
    {
        (string? cpuMax, string? memoryMax) = ReadCgroupLimits();
        return new ImageMetadata
        {
            Engine = engine,
            Pid = Environment.ProcessId,
            Uid = Libc.geteuid(),
            CreatedAt = DateTimeOffset.UtcNow,
            Generation = generation,
            Runtime = RuntimeInformation.FrameworkDescription,
            RuntimeDirectory = RuntimeEnvironment.GetRuntimeDirectory(),
            ProcessPath = Environment.ProcessPath,
            CommandLine = Procfs.ReadCommandLine(Environment.ProcessId) is { Count: > 0 } commandLine ? commandLine : Environment.GetCommandLineArgs(),
            WorkingDirectory = Environment.CurrentDirectory,
            Architecture = RuntimeInformation.ProcessArchitecture.ToString(),
            CpuFeatures = UsableInstructionSets(),
            Interactive = Libc.isatty(0) == 1 || Libc.isatty(1) == 1,
            CgroupCpuMax = cpuMax,
            CgroupMemoryMax = memoryMax,
            CriuVersion = criuVersion,
            Stdio = [.. Enumerable.Range(0, 3).Select(fd => Procfs.ReadFdTarget(Environment.ProcessId, fd))],
            ChildPids = Procfs.ReadDescendants(Environment.ProcessId),
        };
    }

    public void Write(string directory) =>
        ImageDirectory.WritePrivateFile(Path.Combine(directory, FileName), JsonSerializer.Serialize(this, ImageJsonContext.Default.ImageMetadata));

    public static ImageMetadata Read(string directory)
    {
        string path = Path.Combine(directory, FileName);
        if (!File.Exists(path))
        {
            throw new InvalidDataException($"{directory} is not a dotnet-crac image: it has no {FileName}.");
        }

        return JsonSerializer.Deserialize(File.ReadAllText(path), ImageJsonContext.Default.ImageMetadata)
            ?? throw new InvalidDataException($"{path} is empty.");
    }

    /// <summary>
    /// The instruction sets the runtime will use. They honour DOTNET_EnableAVX512F=0 and friends,
    /// which is how an image is made portable to a wider fleet.
    /// </summary>
    public static IReadOnlyList<string> UsableInstructionSets()
    {
        var sets = new List<string>();
        void Add(string name, bool supported)
        {
            if (supported)
            {
                sets.Add(name);
            }
        }

        if (RuntimeInformation.ProcessArchitecture is System.Runtime.InteropServices.Architecture.X64 or System.Runtime.InteropServices.Architecture.X86)
        {
            Add("Sse", Sse.IsSupported);
            Add("Sse2", Sse2.IsSupported);
            Add("Sse3", Sse3.IsSupported);
            Add("Ssse3", Ssse3.IsSupported);
            Add("Sse41", Sse41.IsSupported);
            Add("Sse42", Sse42.IsSupported);
            Add("Popcnt", Popcnt.IsSupported);
            Add("Aes", System.Runtime.Intrinsics.X86.Aes.IsSupported);
            Add("Pclmulqdq", Pclmulqdq.IsSupported);
            Add("Avx", Avx.IsSupported);
            Add("Avx2", Avx2.IsSupported);
            Add("Fma", Fma.IsSupported);
            Add("Bmi1", Bmi1.IsSupported);
            Add("Bmi2", Bmi2.IsSupported);
            Add("Lzcnt", Lzcnt.IsSupported);
            Add("AvxVnni", AvxVnni.IsSupported);
            Add("Avx512F", Avx512F.IsSupported);
            Add("Avx512BW", Avx512BW.IsSupported);
            Add("Avx512CD", Avx512CD.IsSupported);
            Add("Avx512DQ", Avx512DQ.IsSupported);
            Add("Avx512Vbmi", Avx512Vbmi.IsSupported);
            Add("Gfni", Gfni.IsSupported);
            Add("X86Serialize", X86Serialize.IsSupported);
        }
        else if (RuntimeInformation.ProcessArchitecture == System.Runtime.InteropServices.Architecture.Arm64)
        {
            Add("AdvSimd", AdvSimd.IsSupported);
            Add("Aes", System.Runtime.Intrinsics.Arm.Aes.IsSupported);
            Add("Crc32", Crc32.IsSupported);
            Add("Dp", Dp.IsSupported);
            Add("Rdm", Rdm.IsSupported);
            Add("Sha1", Sha1.IsSupported);
            Add("Sha256", Sha256.IsSupported);
        }

        return sets;
    }

    private static (string? CpuMax, string? MemoryMax) ReadCgroupLimits()
    {
        string? directory = Procfs.ReadCgroupDirectory();
        try
        {
            return directory is null ? (null, null) : (ReadTrimmed(Path.Join(directory, "cpu.max")), ReadTrimmed(Path.Join(directory, "memory.max")));
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            return (null, null);
        }
    }

    private static string? ReadTrimmed(string path) =>
        File.Exists(path) ? File.ReadAllText(path).Trim() : null;

    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"{Engine} image of pid {Pid} ({Runtime}) taken {CreatedAt:u}");
}
