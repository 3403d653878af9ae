using System.CommandLine;
using Crac.Engines;
using Crac.Tool.Inspect;
using Crac.Tool.Output;

namespace Crac.Tool.CommandLine.Commands;

/// <summary>
/// <c>dotnet crac inspect &lt;image-dir&gt; [--secrets]</c>: what an image holds. It reads the
/// image only (no process, no CRIU). Each part of the report is a section of <see cref="InspectReport"/>.
/// </summary>
internal static class InspectCommand
{
    public static Command Create()
    {
        var command = new Command("inspect", "Shows what a checkpoint image holds; --secrets scans its memory for likely secrets (never printing them).");
        var directoryArgument = new Argument<string>("image-dir") { Description = "The image directory a checkpoint wrote." };
        var secrets = new Option<bool>("--secrets")
        {
            Description = "Scan the image's memory pages for likely secrets (private keys, bearer tokens, connection strings with passwords, cloud keys): where each is and what kind, never its value. Exits 16 when any is found.",
        };
        var format = CommonOptions.FormatOption();
        command.Arguments.Add(directoryArgument);
        command.Options.Add(secrets);
        command.Options.Add(format);
        CommandRunner.SetAction(command, (result, cancellationToken) =>
        {
            string directory = Path.GetFullPath(result.GetValue(directoryArgument)!);
            InspectReport report = Inspect(directory, result.GetValue(secrets));
            if (result.GetValue(format) == OutputFormat.Json)
            {
                ToolJsonContext.Write(report, ToolJsonContext.Default.InspectReport);
            }
            else
            {
                Console.Out.Write(InspectText.Render(report));
            }

            return Task.FromResult(report.Secrets is { Findings.Count: > 0 } ? ReturnCode.SecretsFound : ReturnCode.Ok);
        });
        return command;
    }

    public static InspectReport Inspect(string directory, bool scanSecrets)
    {
        if (!Directory.Exists(directory))
        {
            throw new ToolException(ReturnCode.ImageUnusable, $"{directory} does not exist: pass the directory a checkpoint wrote (--image-dir).");
        }

        ImageMetadata metadata;
        try
        {
            metadata = ImageMetadata.Read(directory);
        }
        catch (Exception exception) when (exception is InvalidDataException or System.Text.Json.JsonException or IOException or UnauthorizedAccessException)
        {
            throw new ToolException(ReturnCode.ImageUnusable, $"{directory} cannot be inspected: {exception.Message}");
        }

        string[] pageFiles = Directory.GetFiles(directory, "pages-*.img");
        var summary = new ImageSummary(
            metadata.Engine, metadata.Pid, metadata.CreatedAt, metadata.Runtime, metadata.CommandLine, metadata.Generation, metadata.CriuVersion,
            Directory.GetFiles(directory, "mm-*.img").Length, pageFiles.Sum(f => new FileInfo(f).Length))
        {
            ProcessPath = metadata.ProcessPath,
            CpuFeatures = metadata.CpuFeatures,
            CgroupCpuMax = metadata.CgroupCpuMax,
            CgroupMemoryMax = metadata.CgroupMemoryMax,
            Labels = metadata.Labels,
            CreatedBy = metadata.CreatedBy,
            OwnPidNamespace = metadata.OwnPidNamespace,
            OwnMountNamespace = metadata.OwnMountNamespace,
        };
        var report = new InspectReport(directory, summary);
        CriuImageMemory? memory = null;
        Exception? damage = null;
        try
        {
            report = metadata.Engine == "criu" ? report with { Manifest = ImageManifest.Verify(directory) } : report;
            memory = pageFiles.Length == 0 ? null : CriuImageMemory.Read(directory);
            report = report with { Memory = memory?.SizeByKind().Select(size => new MemorySize(size.Key, size.Value)).ToArray() };
        }
        catch (Exception exception) when (exception is InvalidDataException or IOException)
        {
            // A damaged image: the manifest check says which file; the sizes by kind are left out.
            damage = exception;
        }
        catch (UnauthorizedAccessException exception)
        {
            throw new ToolException(ReturnCode.PermissionDenied, $"{directory} cannot be read: {exception.Message} An image is private to the user who took it: run inspect as that user (often root).");
        }

        if (!scanSecrets)
        {
            return report;
        }

        if (damage is not null)
        {
            throw Unscannable(directory, damage);
        }

        if (memory is null)
        {
            throw new ToolException(ReturnCode.ImageUnusable,
                $"{directory} has no memory pages to scan (no pages-*.img): it is a {metadata.Engine} image, and only a criu image holds the process's memory.");
        }

        try
        {
            return report with { Secrets = SecretScanner.Scan(memory) };
        }
        catch (Exception exception) when (exception is InvalidDataException or IOException)
        {
            throw Unscannable(directory, exception);
        }
        catch (UnauthorizedAccessException exception)
        {
            throw new ToolException(ReturnCode.PermissionDenied, $"{directory} cannot be read: {exception.Message} An image is private to the user who took it: run inspect as that user (often root).");
        }
    }

    private static ToolException Unscannable(string directory, Exception damage) =>
        new(ReturnCode.ImageUnusable, $"{directory} cannot be scanned: {damage.Message} Is the image complete (a checkpoint that finished)?");
}
