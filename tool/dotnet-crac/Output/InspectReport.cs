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
    public SecretScan? Secrets { get; init; }
}

/// <summary>The image at a glance, from crac-image.json and the page files.</summary>
internal sealed record ImageSummary(
    string Engine, int Pid, DateTimeOffset CreatedAt, string Runtime, IReadOnlyList<string> CommandLine, int Generation,
    string? CriuVersion, int Processes, long PageBytes);

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
        text.Append(CultureInfo.InvariantCulture, $"  Processes:      {image.Processes}\n");
        text.Append(CultureInfo.InvariantCulture, $"  Memory pages:   {Bytes(image.PageBytes)}\n");
        if (image.CriuVersion is not null)
        {
            text.Append(CultureInfo.InvariantCulture, $"  CRIU:           {image.CriuVersion}\n");
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
            $"Secrets: scanned {Bytes(scan.ScannedBytes)} in {scan.PageFiles} page files in {Formatting.Duration(scan.Milliseconds)}, as ASCII/UTF-8 and as UTF-16; values are never shown.\n");
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

    private static string Bytes(long bytes) => bytes >= 1 << 20
        ? string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1 << 20):0.#} MiB")
        : string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:0.#} KiB");
}
