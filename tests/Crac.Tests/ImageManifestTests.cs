using System.Diagnostics;
using Crac.Engines;
using Crac.Engines.Criu;

namespace Crac.Tests;

/// <summary>
/// The image manifest (sizes and chunked SHA-256, checked before CRIU reads an image) and the
/// bounds on CRIU's run (its log's size, its time), on real files and real processes.
/// </summary>
[TestClass]
public sealed class ImageManifestTests
{
    private string _image = null!;

    [TestInitialize]
    public void CreateImage()
    {
        _image = Directory.CreateTempSubdirectory("crac-manifest-").FullName;
        var random = new Random(12);
        byte[] pages = new byte[ImageManifest.ChunkSize + 12_345];   // two chunks
        random.NextBytes(pages);
        File.WriteAllBytes(Path.Combine(_image, "pages-1.img"), pages);
        File.WriteAllBytes(Path.Combine(_image, "core-1.img"), [1, 2, 3]);
        File.WriteAllText(Path.Combine(_image, ImageMetadata.FileName), "{}");
        File.WriteAllText(Path.Combine(_image, CriuCommandLine.DumpLog), "Dumping finished successfully\n");
        ImageManifest.Write(_image);
    }

    [TestCleanup]
    public void RemoveImage() => Directory.Delete(_image, recursive: true);

    [TestMethod]
    public void AnUntouchedImageIsVerifiedWithEveryFileAndChunk()
    {
        // A log written by the restore itself is not part of the image.
        File.WriteAllText(Path.Combine(_image, CriuCommandLine.RestoreLog), "restore");

        ManifestCheck check = ImageManifest.Verify(_image);

        Assert.AreEqual(ManifestStatus.Verified, check.Status, check.Problem);
        Assert.AreEqual(3, check.Files, "pages, core and metadata (not the logs)");
        Assert.AreEqual(new FileInfo(Path.Combine(_image, "pages-1.img")).Length + 3 + 2, check.Bytes);
        Assert.AreEqual(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_image, ImageManifest.FileName)));
    }

    [TestMethod]
    public void ATruncatedFileIsRefusedBySizeNamingIt()
    {
        using (var file = new FileStream(Path.Combine(_image, "pages-1.img"), FileMode.Open))
        {
            file.SetLength(4096);
        }

        ManifestCheck check = ImageManifest.Verify(_image);

        Assert.AreEqual(ManifestStatus.Changed, check.Status);
        StringAssert.Contains(check.Problem, "pages-1.img is 4,096 bytes, and was 16,789,561 at the checkpoint");
    }

    [TestMethod]
    public void AChangedByteInTheSecondChunkIsFoundByItsHash()
    {
        string pages = Path.Combine(_image, "pages-1.img");
        using (var file = new FileStream(pages, FileMode.Open))
        {
            file.Position = ImageManifest.ChunkSize + 10;
            int value = file.ReadByte();
            file.Position--;
            file.WriteByte((byte)(value ^ 1));
        }

        ManifestCheck check = ImageManifest.Verify(_image);

        Assert.AreEqual(ManifestStatus.Changed, check.Status);
        StringAssert.Contains(check.Problem, "pages-1.img does not match its SHA-256");
    }

    [TestMethod]
    public void AnAddedOrMissingFileIsRefused()
    {
        File.WriteAllBytes(Path.Combine(_image, "pages-2.img"), [0]);
        StringAssert.Contains(ImageManifest.Verify(_image).Problem, "pages-2.img is not in the image's manifest");

        File.Delete(Path.Combine(_image, "pages-2.img"));
        File.Delete(Path.Combine(_image, "core-1.img"));
        StringAssert.Contains(ImageManifest.Verify(_image).Problem, "core-1.img is missing");
    }

    [TestMethod]
    public void WithoutAManifestAFinishedDumpIsAbsentAndAnUnfinishedOneIsRefused()
    {
        File.Delete(Path.Combine(_image, ImageManifest.FileName));
        Assert.AreEqual(ManifestStatus.Absent, ImageManifest.Verify(_image).Status);

        File.WriteAllText(Path.Combine(_image, CriuCommandLine.DumpLog), "Error (criu/cr-dump.c:1975): Dumping FAILED.\n");
        ManifestCheck check = ImageManifest.Verify(_image);
        Assert.AreEqual(ManifestStatus.Changed, check.Status);
        StringAssert.Contains(check.Problem, "holds no finished dump");
    }

    [TestMethod]
    public void CriuIsStoppedWhenItsLogPassesTheCapOrItsTimeRunsOut()
    {
        string log = Path.Combine(_image, "restore.log");
        // A process that writes its log without end, as CRIU did on a truncated image (6.5 GB in 300 s).
        using Process writer = Process.Start(new ProcessStartInfo("/bin/sh") { ArgumentList = { "-c", "exec yes looping >\"$0\"", log } })!;
        var stopwatch = Stopwatch.StartNew();
        string? stopped = CriuBinary.WaitBounded(writer, TimeSpan.FromSeconds(60), log);
        writer.Kill();

        StringAssert.Contains(stopped, "passed 64 MiB");
        Assert.IsTrue(stopwatch.Elapsed < TimeSpan.FromSeconds(30), $"stopped after {stopwatch.Elapsed.TotalSeconds:0.0} s");

        using Process sleeper = Process.Start("sleep", "30");
        string? timedOut = CriuBinary.WaitBounded(sleeper, TimeSpan.FromMilliseconds(300), log: null);
        sleeper.Kill();
        StringAssert.Contains(timedOut, "did not finish within");

        using Process quick = Process.Start("true");
        Assert.IsNull(CriuBinary.WaitBounded(quick, TimeSpan.FromSeconds(10), log));
    }
}
