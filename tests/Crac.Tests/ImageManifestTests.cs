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
    public void ASmallPlainRestoreChecksItsPagesFirstAndALargeOrLazyOneWhileCriuRestores()
    {
        const long small = 24L << 20, large = 100L << 20;
        Assert.IsFalse(PagesVerdict.CheckAlongside("auto", small, lazy: false), "a small image: hashing it first on every core is cheaper than competing with CRIU");
        Assert.IsTrue(PagesVerdict.CheckAlongside("auto", large, lazy: false));
        Assert.IsTrue(PagesVerdict.CheckAlongside("auto", small, lazy: true), "a lazy restore copies no pages: the check overlaps it");
        Assert.IsTrue(PagesVerdict.CheckAlongside("during", small, lazy: false));
        Assert.IsFalse(PagesVerdict.CheckAlongside("first", large, lazy: true));
    }

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
    public void TheManifestIsPlainJsonWithoutAByteOrderMark()
    {
        // jq and Python's json refuse a byte-order mark; operators read images with them.
        byte[] manifest = File.ReadAllBytes(Path.Combine(_image, ImageManifest.FileName));
        Assert.AreEqual((byte)'{', manifest[0], $"the manifest starts with 0x{manifest[0]:x2}, not '{{'");
    }

    [TestMethod]
    public void PagesHashedWhileTheyWereWrittenGiveTheManifestOfTheFinishedFiles()
    {
        // Written in bursts as CRIU writes them: the first chunk's end falls inside the second burst.
        string directory = Directory.CreateTempSubdirectory("crac-followed-").FullName;
        try
        {
            var random = new Random(7);
            byte[] first = new byte[5 << 20], second = new byte[12 << 20], last = new byte[(3 << 20) + 7], other = new byte[100_000];
            random.NextBytes(first);
            random.NextBytes(second);
            random.NextBytes(last);
            random.NextBytes(other);
            File.WriteAllText(Path.Combine(directory, "core-1.img"), "core");
            IReadOnlyDictionary<string, FollowedPages> followed;
            using (var follower = PagesFollower.Start(directory))
            {
                using (var pages = new FileStream(Path.Combine(directory, "pages-1.img"), FileMode.CreateNew))
                {
                    foreach (byte[] burst in (byte[][])[first, second, last])
                    {
                        pages.Write(burst);
                        pages.Flush();
                        Thread.Sleep(50);
                    }
                }

                File.WriteAllBytes(Path.Combine(directory, "pages-2.img"), other);
                Thread.Sleep(50);
                followed = follower.Stop();
                Assert.AreEqual(1, followed["pages-1.img"].Chunks.Count, "the first chunk was hashed while the file was written");
                Assert.AreEqual(100_000, followed["pages-2.img"].Offset);

                // Replaced after it was read: hashed again from its start.
                File.Delete(Path.Combine(directory, "pages-2.img"));
                random.NextBytes(other);
                File.WriteAllBytes(Path.Combine(directory, "pages-2.img"), other);
                File.WriteAllText(Path.Combine(directory, CriuCommandLine.DumpLog), "Dumping finished successfully\n");

                ImageManifest fromFollowed = ImageManifest.Write(directory, follower);
                ImageManifest fromScratch = ImageManifest.Write(directory);

                Assert.AreEqual(
                    string.Join("\n", fromScratch.Files.Select(file => $"{file.Name} {file.Size} {string.Join(',', file.Sha256)}")),
                    string.Join("\n", fromFollowed.Files.Select(file => $"{file.Name} {file.Size} {string.Join(',', file.Sha256)}")));
                Assert.AreEqual(2, fromFollowed.Files.Single(file => file.Name == "pages-1.img").Sha256.Count);
            }

            ManifestCheck check = ImageManifest.Verify(directory);
            Assert.AreEqual(ManifestStatus.Verified, check.Status, check.Problem);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
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
        FlipByte(Path.Combine(_image, "pages-1.img"), ImageManifest.ChunkSize + 10);

        ManifestCheck check = ImageManifest.Verify(_image);

        Assert.AreEqual(ManifestStatus.Changed, check.Status);
        StringAssert.Contains(check.Problem, "pages-1.img does not match its SHA-256");
    }

    [TestMethod]
    public void BeforeARestoreEverythingButTheMemoryPagesIsHashedAndThePagesAfter()
    {
        Assert.IsTrue(ImageManifest.IsMemoryPages("pages-1.img"));
        Assert.IsTrue(ImageManifest.IsMemoryPages("pages-12.img"));
        Assert.IsFalse(ImageManifest.IsMemoryPages("pagemap-1.img"), "CRIU parses the pagemap");
        Assert.IsFalse(ImageManifest.IsMemoryPages("pagemap-shmem-7.img"));
        Assert.IsFalse(ImageManifest.IsMemoryPages("core-1.img"));
        Assert.IsFalse(ImageManifest.IsMemoryPages(ImageMetadata.FileName));

        // A changed byte in a file CRIU parses: refused before CRIU, with no pages left to hash.
        FlipByte(Path.Combine(_image, "core-1.img"), 1);
        ManifestCheck core = ImageManifest.VerifyBeforeRestore(_image, out ImageManifest.PagesCheck? noPages);
        Assert.AreEqual(ManifestStatus.Changed, core.Status);
        StringAssert.Contains(core.Problem, "core-1.img does not match its SHA-256");
        Assert.IsNull(noPages);
        FlipByte(Path.Combine(_image, "core-1.img"), 1);

        // A changed byte in the pages: the check before CRIU passes, the pages' own check names the file.
        string pages = Path.Combine(_image, "pages-1.img");
        FlipByte(pages, ImageManifest.ChunkSize / 2);
        ManifestCheck before = ImageManifest.VerifyBeforeRestore(_image, out ImageManifest.PagesCheck? pending);
        Assert.AreEqual(ManifestStatus.Verified, before.Status, before.Problem);
        Assert.IsNotNull(pending);
        using (pending)
        {
            ManifestCheck after = pending.Result.GetAwaiter().GetResult();
            Assert.AreEqual(ManifestStatus.Changed, after.Status);
            StringAssert.Contains(after.Problem, "pages-1.img does not match its SHA-256 in the manifest");
        }

        // Intact, the whole image is verified, the pages during the restore.
        FlipByte(pages, ImageManifest.ChunkSize / 2);
        ImageManifest.VerifyBeforeRestore(_image, out ImageManifest.PagesCheck? intact);
        using (intact)
        {
            ManifestCheck whole = intact!.Result.GetAwaiter().GetResult();
            Assert.AreEqual(ManifestStatus.Verified, whole.Status, whole.Problem);
            Assert.AreEqual(3, whole.Files);
            Assert.AreEqual(new PagesChecked(1, new FileInfo(pages).Length, whole.DuringRestore!.Milliseconds), whole.DuringRestore);
            Assert.IsTrue(whole.Milliseconds >= whole.DuringRestore.Milliseconds);
        }

        // A truncated pages file is still refused before CRIU, by its size.
        using (var file = new FileStream(pages, FileMode.Open))
        {
            file.SetLength(4096);
        }

        StringAssert.Contains(ImageManifest.VerifyBeforeRestore(_image, out ImageManifest.PagesCheck? none).Problem, "pages-1.img is 4,096 bytes");
        Assert.IsNull(none);
    }

    [TestMethod]
    public void CriusActionScriptLetsThePostRestoreStagePassOnlyOnAnIntactVerdict()
    {
        string restoreDirectory = Directory.CreateTempSubdirectory("crac-verdict-").FullName;
        try
        {
            ImageManifest.VerifyBeforeRestore(_image, out ImageManifest.PagesCheck? pages);
            using (pages)
            {
                PagesVerdict verdict = PagesVerdict.Arm(restoreDirectory, pages!, TimeSpan.FromSeconds(1))!;
                Assert.IsNotNull(verdict, "the temp directory allows executing the script");
                Assert.AreEqual(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(verdict.ScriptPath));
                Assert.AreEqual(ManifestStatus.Verified, pages!.Result.GetAwaiter().GetResult().Status);
                string written = Path.Combine(restoreDirectory, PagesVerdict.VerdictName);
                Assert.IsTrue(SpinWait.SpinUntil(() => File.Exists(written), 5000), "the verdict is written once the pages are hashed");

                // Every other stage passes at once; post-restore passes on "ok".
                foreach (string stage in new[] { "pre-restore", "setup-namespaces", "post-setup-namespaces", "network-unlock", "pre-resume", "post-resume" })
                {
                    Assert.AreEqual(0, RunScript(verdict, stage, out _), stage);
                }

                Assert.AreEqual(0, RunScript(verdict, "post-restore", out string passed), passed);

                // Anything but "ok" fails it, saying why; so does no verdict in time, and no environment.
                File.WriteAllText(written, "changed\n");
                Assert.AreEqual(1, RunScript(verdict, "post-restore", out string changed));
                StringAssert.Contains(changed, "memory pages do not match its manifest: the restored process is not resumed");

                File.Delete(written);
                var waited = Stopwatch.StartNew();
                Assert.AreEqual(1, RunScript(verdict, "post-restore", out string late));
                Assert.IsTrue(waited.Elapsed >= TimeSpan.FromSeconds(1) && waited.Elapsed < TimeSpan.FromSeconds(10), $"waited {waited.Elapsed.TotalSeconds:0.0} s for a 1 s bound");
                StringAssert.Contains(late, $"waiting at most 1 s for the SHA-256 check of the image's memory pages ({written})");
                StringAssert.Contains(late, "no verdict on the memory pages after 1 s");

                Assert.AreEqual(1, RunScript(verdict, "post-restore", out string unset, withEnvironment: false));
                StringAssert.Contains(unset, "are not set");
            }
        }
        finally
        {
            Directory.Delete(restoreDirectory, recursive: true);
        }
    }

    [TestMethod]
    public void OnANoexecFileSystemTheScriptIsNotArmedSoThePagesAreCheckedBeforeCriu()
    {
        string noexec = Directory.CreateTempSubdirectory("crac-noexec-").FullName;
        try
        {
            using (Process mount = Process.Start("mount", ["-t", "tmpfs", "-o", "noexec,mode=0700", "tmpfs", noexec]))
            {
                mount.WaitForExit();
                if (mount.ExitCode != 0)
                {
                    Assert.Inconclusive("mounting a tmpfs needs root");
                }
            }

            ImageManifest.VerifyBeforeRestore(_image, out ImageManifest.PagesCheck? pages);
            using (pages)
            {
                Assert.IsNull(PagesVerdict.Arm(noexec, pages!, TimeSpan.FromSeconds(1)), "CRIU could not exec the script there");
            }
        }
        finally
        {
            using (Process? unmount = Process.Start("umount", [noexec]))
            {
                unmount?.WaitForExit();
            }

            Directory.Delete(noexec, recursive: true);
        }
    }

    /// <summary>Runs the action script as CRIU 4.2 does: exec'd by its path, no arguments, the stage in CRTOOLS_SCRIPT_ACTION.</summary>
    private static int RunScript(PagesVerdict verdict, string stage, out string stderr, bool withEnvironment = true)
    {
        var start = new ProcessStartInfo(verdict.ScriptPath) { RedirectStandardError = true, UseShellExecute = false };
        start.Environment["CRTOOLS_SCRIPT_ACTION"] = stage;
        foreach ((string name, string value) in withEnvironment ? verdict.Environment : new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        using Process script = Process.Start(start)!;
        stderr = script.StandardError.ReadToEnd();
        script.WaitForExit();
        return script.ExitCode;
    }

    private static void FlipByte(string path, long offset)
    {
        using var file = new FileStream(path, FileMode.Open);
        file.Position = offset;
        int value = file.ReadByte();
        file.Position--;
        file.WriteByte((byte)(value ^ 1));
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
