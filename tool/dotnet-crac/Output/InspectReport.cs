using System.Globalization;
using System.Text;

namespace Crac.Tool.Output;

/// <summary>
/// What <c>dotnet crac inspect &lt;dir&gt;</c> found, one section per property: the image
/// summary always, the secrets scan with --secrets. A new section is a property here (null when
/// not asked for) and a renderer in <see cref="InspectText"/>; JSON gets it by itself.
/// </summary>
internal sealed record InspectReport(string ImageDirectory, ImageSummary Image)
{
    /// <summary>The image's files checked against its manifest, as a restore checks them.</summary>
    public Crac.Engines.ManifestCheck? Manifest { get; init; }

    /// <summary>The memory pages by kind (a criu image).</summary>
    public IReadOnlyList<MemorySize>? Memory { get; init; }

    public SecretScan? Secrets { get; init; }
}

/// <summary>The image at a glance, from crac-image.json and the page files.</summary>
internal sealed record ImageSummary(
    string Engine, int Pid, DateTimeOffset CreatedAt, string Runtime, IReadOnlyList<string> CommandLine, int Generation,
    string? CriuVersion, int Processes, long PageBytes)
{
    public string? ProcessPath { get; init; }

    public IReadOnlyList<string> CpuFeatures { get; init; } = [];

    public string? CgroupCpuMax { get; init; }

    public string? CgroupMemoryMax { get; init; }

    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    public string? CreatedBy { get; init; }

    public bool OwnPidNamespace { get; init; }

    public bool OwnMountNamespace { get; init; }
}

/// <summary>How many bytes of the image's memory pages are of one kind.</summary>
internal sealed record MemorySize(Crac.Tool.Inspect.MemoryKind Kind, long Bytes);

/// <summary>The result of the secrets scan: how much was read, and each distinct secret found.</summary>
internal sealed record SecretScan(int PageFiles, long ScannedBytes, double Milliseconds, IReadOnlyList<SecretFinding> Findings);

/// <summary>One distinct secret (never its value): its kind, how it was encoded, its length in characters, how many copies, and where the first few were.</summary>
internal sealed record SecretFinding(string Kind, string Encoding, int Length, int Copies, IReadOnlyList<SecretLocation> Locations);

/// <summary>Where one copy was: the page file and offset, and whose memory that was.</summary>
internal sealed record SecretLocation(string PagesFile, long Offset, int? Pid, string? Address, string Region);

/// <summary>The text form of each section of an inspect report.</summary>
internal static class InspectText
{
    public static string Render(InspectReport report)
    {
        var text = new StringBuilder();
        ImageSummary image = report.Image;
        text.Append(CultureInfo.InvariantCulture, $"Image {report.ImageDirectory}: {image.Engine} image of pid {image.Pid} ({image.Runtime}), taken {Formatting.Time(image.CreatedAt)}, generation {image.Generation}\n");
        text.Append(CultureInfo.InvariantCulture, $"  Command line:   {string.Join(' ', image.CommandLine)}\n");
        text.Append(CultureInfo.InvariantCulture, $"  Runtime host:   {image.ProcessPath ?? "-"}\n");
        text.Append(CultureInfo.InvariantCulture, $"  Processes:      {image.Processes}{(image.OwnPidNamespace ? " in a pid namespace of their own (restored into a new one)" : string.Empty)}\n");
        if (image.OwnMountNamespace)
        {
            text.Append("  Mounts:         a mount namespace of its own (a container's), rebuilt by the restore\n");
        }

        text.Append(CultureInfo.InvariantCulture, $"  CPU features:   {(image.CpuFeatures.Count == 0 ? "-" : string.Join(' ', image.CpuFeatures))}\n");
        text.Append(CultureInfo.InvariantCulture, $"  cgroup limits:  cpu.max {image.CgroupCpuMax ?? "-"}, memory.max {image.CgroupMemoryMax ?? "-"}\n");
        text.Append(CultureInfo.InvariantCulture, $"  Labels:         {(image.Labels.Count == 0 ? "none" : string.Join(", ", image.Labels.OrderBy(label => label.Key, StringComparer.Ordinal).Select(label => $"{label.Key}={label.Value}")))}\n");
        text.Append(CultureInfo.InvariantCulture, $"  CRIU:           {image.CriuVersion ?? "-"}\n");
        text.Append(CultureInfo.InvariantCulture, $"  Created by:     {image.CreatedBy ?? "-"}\n");
        text.Append(CultureInfo.InvariantCulture, $"  Memory pages:   {Formatting.Size(image.PageBytes)}\n");
        foreach (MemorySize size in report.Memory ?? [])
        {
            text.Append(CultureInfo.InvariantCulture, $"    {Crac.Diagnostics.WireNames.Of(size.Kind),-20}{Formatting.Size(size.Bytes)}\n");
        }

        if (report.Manifest is { } manifest)
        {
            text.Append(manifest.Status switch
            {
                Crac.Engines.ManifestStatus.Verified => string.Create(CultureInfo.InvariantCulture,
                    $"  Manifest:       verified: {manifest.Files} files, {Formatting.Size(manifest.Bytes)}, sizes and SHA-256, in {Formatting.Duration(manifest.Milliseconds)}\n"),
                Crac.Engines.ManifestStatus.Absent => $"  Manifest:       none: {manifest.Problem}\n",
                _ => $"  Manifest:       CHANGED: {manifest.Problem}\n",
            });
        }

        if (report.Secrets is { } secrets)
        {
            text.Append(RenderSecrets(secrets));
        }

        return text.ToString();
    }

    private static string RenderSecrets(SecretScan scan)
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture,
            $"Secrets: scanned {Formatting.Size(scan.ScannedBytes)} in {scan.PageFiles} page files in {Formatting.Duration(scan.Milliseconds)}, as ASCII/UTF-8 and as UTF-16; values are never shown.\n");
        if (scan.Findings.Count == 0)
        {
            text.Append("  No likely secret found. The scan knows common formats only: binary key material (a loaded certificate's private key, an RSA object) and secrets in no known format are not recognised.\n");
            return text.ToString();
        }

        int copies = scan.Findings.Sum(f => f.Copies);
        text.Append(CultureInfo.InvariantCulture, $"  {scan.Findings.Count} likely secrets, {copies} copies in all:\n");
        foreach (SecretFinding finding in scan.Findings)
        {
            text.Append(CultureInfo.InvariantCulture, $"  - {finding.Kind}, {finding.Length} characters, {finding.Encoding}, {finding.Copies} {(finding.Copies == 1 ? "copy" : "copies")}:\n");
            foreach (SecretLocation location in finding.Locations)
            {
                string process = location.Pid is { } pid ? $"pid {pid} " : string.Empty;
                text.Append(CultureInfo.InvariantCulture, $"      {location.PagesFile} +0x{location.Offset:x}: {process}{(location.Address is null ? string.Empty : $"at {location.Address} ")}in {location.Region}\n");
            }

            if (finding.Copies > finding.Locations.Count)
            {
                text.Append(CultureInfo.InvariantCulture, $"      and {finding.Copies - finding.Locations.Count} more\n");
            }
        }

        text.Append("  Fix: keep secrets out of the image: load them after the restore (an IResource's AfterRestoreAsync, Core.Restored, or configuration that reloads), or drop them in BeforeCheckpointAsync; see docs/fidelity.md, \"Secrets in the image\". Anyone who can read this image can read them: treat it as the secrets themselves.\n");
        return text.ToString();
    }
}
