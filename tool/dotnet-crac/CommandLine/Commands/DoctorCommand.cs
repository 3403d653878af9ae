using System.CommandLine;
using System.Globalization;
using Crac.Engines.Criu;
using Crac.Interop;
using Crac.Tool.Criu;
using Crac.Tool.Output;

namespace Crac.Tool.CommandLine.Commands;

/// <summary>
/// <c>dotnet crac doctor</c>: whether real checkpoints can be taken here, and what to do when not:
/// a missing CRIU, one too old for the kernel, or missing privileges.
/// </summary>
internal static class DoctorCommand
{
    private const int CapSysPtrace = 19;
    private const int CapSysAdmin = 21;
    private const int CapCheckpointRestore = 40;

    public static Command Create()
    {
        var command = new Command("doctor", "Checks that CRIU can checkpoint and restore here, and explains how to fix what is missing.");
        var criuPath = CriuOptions.CriuPathOption();
        var format = CommonOptions.FormatOption();
        command.Options.Add(criuPath);
        command.Options.Add(format);
        CommandRunner.SetAction(command, (result, cancellationToken) =>
        {
            DoctorReport report = Examine(result.GetValue(criuPath));
            if (result.GetValue(format) == OutputFormat.Json)
            {
                ToolJsonContext.Write(report, ToolJsonContext.Default.DoctorReport);
            }
            else
            {
                foreach (DoctorCheck check in report.Checks)
                {
                    Console.Out.WriteLine($"[{(check.Ok ? " ok " : "FAIL")}] {check.Name}: {check.Detail}");
                    if (check.Fix is not null)
                    {
                        Console.Out.WriteLine($"       Fix: {check.Fix}");
                    }
                }

                Console.Out.WriteLine(report.Usable
                    ? $"CRIU {report.CriuVersion} at {report.CriuPath} can checkpoint and restore .NET processes here."
                    : "Real checkpoints cannot be taken here until the failures above are fixed. The simulate and pause engines work regardless.");
            }

            return Task.FromResult(report.Usable ? ReturnCode.Ok : ReturnCode.CriuUnavailable);
        });
        return command;
    }

    public static DoctorReport Examine(string? criuPath)
    {
        var checks = new List<DoctorCheck>
        {
            new("kernel", true, $"Linux {Environment.OSVersion.Version}", null),
        };

        IReadOnlyList<(string Source, string? Path)> candidates = CriuBinary.Candidates(criuPath);
        string searched = string.Join("; ", candidates.Select(c => $"{c.Source}: {c.Path ?? "not set/found"}"));
        CriuBinary? criu = null;
        try
        {
            criu = CriuBinary.Locate(criuPath);
            checks.Add(new("criu binary", true, $"{criu.Path} (looked at {searched})", null));
            checks.Add(new("criu version", true, $"{criu.Version} (4.2 or newer is needed on current kernels)", null));
        }
        catch (CriuUnavailableException exception)
        {
            bool tooOld = exception.Message.Contains("too old", StringComparison.Ordinal);
            checks.Add(new(tooOld ? "criu version" : "criu binary", false, exception.Message, tooOld
                ? $"Run .ci/install-criu.sh (a private CRIU 4.2 that changes nothing on the system), or set {CriuBinary.PathVariable} to a CRIU 4.2 or newer."
                : $"Run .ci/install-criu.sh from the dotnet-crac repository, or install criu >= 4.2 and put it on PATH, or set {CriuBinary.PathVariable}."));
        }

        bool root = Libc.geteuid() == 0;
        ulong capabilities = Procfs.ReadEffectiveCapabilities();
        bool hasCheckpointCapabilities = (capabilities & (1UL << CapCheckpointRestore)) != 0 && (capabilities & (1UL << CapSysPtrace)) != 0;
        bool hasSysAdmin = (capabilities & (1UL << CapSysAdmin)) != 0;
        bool privileged = hasSysAdmin || hasCheckpointCapabilities;
        string container = InContainer() ? " This looks like a container: it needs --privileged, or --cap-add CHECKPOINT_RESTORE --cap-add SYS_PTRACE." : string.Empty;
        checks.Add(new("privileges", privileged,
            root ? $"root, effective capabilities 0x{capabilities.ToString("x", CultureInfo.InvariantCulture)}"
                 : $"uid {Libc.geteuid()}, effective capabilities 0x{capabilities.ToString("x", CultureInfo.InvariantCulture)}",
            privileged ? null : "CRIU needs root, or CAP_CHECKPOINT_RESTORE and CAP_SYS_PTRACE: run `sudo dotnet crac ...`." + container));

        if (criu is not null && privileged)
        {
            string output = CriuBinary.Run(criu.Path, ["check"], TimeSpan.FromSeconds(30), out int exitCode);
            checks.Add(new("criu check", exitCode == 0,
                exitCode == 0 ? "Looks good." : CriuLog.Summarize("check", exitCode, null, output),
                exitCode == 0 ? null : "CRIU's own check failed on this kernel: see the lines above; a newer CRIU (.ci/install-criu.sh) usually fixes it." + container));
        }

        // Optional, and only speed: measured here, a CRIU call that fails at once took 50 ms the first
        // time and 10 ms with the cache on a tmpfs, against 38 ms every time without one.
        string? probeCacheType = Procfs.FileSystemTypeOf(CriuBinary.KernelProbeCacheDirectory);
        bool probesCached = probeCacheType == "tmpfs";
        checks.Add(new("criu probe cache", true,
            probesCached
                ? $"{CriuBinary.KernelProbeCacheDirectory} is a tmpfs: CRIU keeps what it probed of the kernel there between calls"
                : $"{CriuBinary.KernelProbeCacheDirectory} is {probeCacheType ?? "not found"}, not a tmpfs: CRIU cannot keep what it probed of the kernel (criu.kdat), " +
                  "so every checkpoint and restore probes it again (about 30 ms a call measured on a 2-core machine)",
            probesCached ? null : $"Mount a tmpfs on {CriuBinary.KernelProbeCacheDirectory} (systemd does; a container: --tmpfs /run, or a Kubernetes emptyDir with medium: Memory)."));

        // Optional: without it every restore copies all the memory first, which is only slower for large images.
        string? noLazyPages = LazyPages.Unavailable();
        checks.Add(new("lazy pages", true,
            noLazyPages is null
                ? $"userfaultfd works: images with {LazyPages.AutoThreshold >> 20} MiB of memory or more restore lazily (restore --lazy-pages auto)"
                : $"not available, so restores copy all the memory first: {noLazyPages}",
            null));

        bool setsid = File.Exists("/usr/bin/setsid") || File.Exists("/bin/setsid");
        checks.Add(new("setsid", setsid, setsid ? "present (used when an application checkpoints itself)" : "missing",
            setsid ? null : "Install util-linux: an application checkpointing itself (Core.CheckpointRestore with CRAC_ENGINE=criu) runs CRIU through setsid."));

        bool usable = checks.All(check => check.Ok);
        return new DoctorReport(usable, criu?.Path, criu?.Version.ToString(), checks);
    }

    private static bool InContainer() =>
        File.Exists("/.dockerenv") || File.Exists("/run/.containerenv")
        || Procfs.InitCgroupMentions("docker");
}
