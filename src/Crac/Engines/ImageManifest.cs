using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;

namespace Crac.Engines;

/// <summary>
/// Every file of an image with its size and SHA-256, written when the dump has finished
/// (<see cref="FileName"/>, beside the metadata, which it covers too) and checked by a restore
/// before CRIU reads anything: CRIU trusts its images, and a truncated pages file made it loop
/// for minutes. The check is on the restore's hot path, so sizes are compared first (a truncated
/// or grown file is refused without reading it), and the files are hashed in parallel in chunks
/// of <see cref="ChunkSize"/>, each with its own SHA-256: one pages file is most of an image, and
/// a single hash of it would keep one core busy while the others wait; the tool hashes the pages
/// while CRIU writes them (<see cref="PagesFollower"/>). A restore hashes the
/// memory pages (<see cref="IsMemoryPages"/>) while CRIU restores (<see cref="VerifyBeforeRestore"/>).
/// </summary>
internal sealed record ImageManifest
{
    public const string FileName = "crac-manifest.json";

    /// <summary>Files that change after the dump by design: logs, and CRIU's restore statistics.</summary>
    private static readonly string[] Unchecked =
        [FileName, "dump.log", "restore.log", "stats-restore", "criu-output.log", "criu-exit", Criu.CriuCommandLine.LazyPagesLog, Criu.CriuCommandLine.LazyPagesSocket];

    /// <summary>The bytes each SHA-256 of a file covers (the last chunk may be shorter).</summary>
    public const int ChunkSize = 16 << 20;

    /// <summary>The most a hash reads at once.</summary>
    internal const int ReadBufferSize = 1 << 20;

    public int Format { get; init; } = 1;

    public required IReadOnlyList<ImageFile> Files { get; init; }

    /// <summary>
    /// Hashes every file of a finished image and writes the manifest, private like the rest. The
    /// pages files that <paramref name="followed"/> read while CRIU wrote them are hashed from where
    /// it stopped; it is stopped here.
    /// </summary>
    public static ImageManifest Write(string directory, PagesFollower? followed = null)
    {
        string[] names = [.. CheckedFiles(directory)];
        long[] sizes = [.. names.Select(name => new FileInfo(Path.Combine(directory, name)).Length)];
        IReadOnlyDictionary<string, FollowedPages> following = followed?.Stop() ?? new Dictionary<string, FollowedPages>();
        FollowedPages?[] read = [.. names.Select((name, i) =>
            following.GetValueOrDefault(name) is { } file && file.Describes(Path.Combine(directory, name), sizes[i]) ? file : null)];
        string[][] hashes = [.. sizes.Select(size => new string[Chunks(size)])];
        int[] firstUnread = [.. read.Select(file => file?.Chunks.Count ?? 0)];
        for (int i = 0; i < read.Length; i++)
        {
            for (int chunk = 0; chunk < firstUnread[i]; chunk++)
            {
                hashes[i][chunk] = read[i]!.Chunks[chunk];
            }
        }

        Parallel.ForEach(WorkItems(sizes, firstUnread), item =>
        {
            string path = Path.Combine(directory, names[item.File]);
            hashes[item.File][item.Chunk] = (item.Chunk == firstUnread[item.File] ? read[item.File]?.FinishChunk(sizes[item.File]) : null)
                ?? HashChunk(path, item.Chunk);
        });
        var manifest = new ImageManifest { Files = [.. names.Select((name, i) => new ImageFile(name, sizes[i], hashes[i]))] };
        ImageDirectory.WritePrivateFile(Path.Combine(directory, FileName), JsonSerializer.Serialize(manifest, ImageJsonContext.Default.ImageManifest));
        return manifest;
    }

    /// <summary>Checks an image against its manifest: first every size, then every hash, in parallel.</summary>
    public static ManifestCheck Verify(string directory) => Verify(directory, deferPages: false, out _);

    /// <summary>
    /// What a restore checks before CRIU runs: the manifest, the file set, every size, and the hash
    /// of every file CRIU parses. The memory pages, which CRIU only copies into the process, are
    /// hashed by <paramref name="pages"/>, started here, while CRIU restores; null when there are none.
    /// </summary>
    public static ManifestCheck VerifyBeforeRestore(string directory, out PagesCheck? pages) => Verify(directory, deferPages: true, out pages);

    /// <summary>The raw memory contents (<c>pages-N.img</c>): CRIU copies them into the process without interpreting a byte.</summary>
    public static bool IsMemoryPages(string name) =>
        name.StartsWith("pages-", StringComparison.Ordinal) && name.EndsWith(".img", StringComparison.Ordinal);

    private static ManifestCheck Verify(string directory, bool deferPages, out PagesCheck? pages)
    {
        pages = null;
        var stopwatch = Stopwatch.StartNew();
        string path = Path.Combine(directory, FileName);
        if (!File.Exists(path))
        {
            if (!Criu.CriuLog.DumpFinished(directory))
            {
                return Changed(stopwatch, $"{directory} holds no finished dump: CRIU wrote no {Criu.CriuLog.DumpStats}, and {Criu.CriuCommandLine.DumpLog} does not end with its success (the checkpoint failed or was cut short).");
            }

            return new ManifestCheck(ManifestStatus.Absent, 0, 0, stopwatch.Elapsed.TotalMilliseconds,
                $"{directory} has no {FileName} (an image taken by the process itself, or by an older dotnet-crac): its files cannot be checked.");
        }

        ImageManifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize(File.ReadAllText(path), ImageJsonContext.Default.ImageManifest);
        }
        catch (JsonException exception)
        {
            return Changed(stopwatch, $"{FileName} is not a manifest ({exception.Message}).");
        }

        if (manifest is null || manifest.Files.Any(file => file.Name.Contains('/', StringComparison.Ordinal) || file.Name.StartsWith('.')))
        {
            return Changed(stopwatch, $"{FileName} is malformed.");
        }

        var expected = manifest.Files.ToDictionary(file => file.Name, StringComparer.Ordinal);
        foreach (string name in CheckedFiles(directory))
        {
            if (!expected.ContainsKey(name))
            {
                return Changed(stopwatch, $"{name} is not in the image's manifest: it was added after the checkpoint.");
            }
        }

        long bytes = 0;
        foreach (ImageFile file in manifest.Files)
        {
            var info = new FileInfo(Path.Combine(directory, file.Name));
            if (!info.Exists)
            {
                return Changed(stopwatch, $"{file.Name} is missing.");
            }

            if (info.Length != file.Size)
            {
                return Changed(stopwatch, $"{file.Name} is {info.Length:N0} bytes, and was {file.Size:N0} at the checkpoint: it was truncated or changed.");
            }

            bytes += file.Size;
        }

        if (manifest.Files.FirstOrDefault(file => file.Sha256.Count != Chunks(file.Size)) is { } malformed)
        {
            return Changed(stopwatch, $"{FileName} lists {malformed.Sha256.Count} hashes for {malformed.Name}, whose size needs {Chunks(malformed.Size)}.");
        }

        ImageFile[] later = deferPages ? [.. manifest.Files.Where(file => IsMemoryPages(file.Name))] : [];
        if (FindMismatch(directory, [.. manifest.Files.Where(file => !later.Contains(file))], Environment.ProcessorCount, CancellationToken.None) is { } mismatch)
        {
            return Changed(stopwatch, Mismatch(mismatch));
        }

        var verified = new ManifestCheck(ManifestStatus.Verified, manifest.Files.Count, bytes, stopwatch.Elapsed.TotalMilliseconds, null);
        pages = later.Length > 0 ? new PagesCheck(directory, later, verified) : null;
        return verified;
    }

    /// <summary>The first file (in no set order) one of whose chunks does not hash to the manifest's SHA-256; null when all match.</summary>
    private static string? FindMismatch(string directory, IReadOnlyList<ImageFile> files, int threads, CancellationToken cancellationToken, SemaphoreSlim? cores = null)
    {
        string? mismatch = null;
        var options = new ParallelOptions { MaxDegreeOfParallelism = threads, CancellationToken = cancellationToken };
        Parallel.ForEach(WorkItems([.. files.Select(file => file.Size)]), options, (item, state) =>
        {
            ImageFile file = files[item.File];
            cores?.Wait(cancellationToken);
            try
            {
                if (!string.Equals(HashChunk(Path.Combine(directory, file.Name), item.Chunk), file.Sha256[item.Chunk], StringComparison.Ordinal))
                {
                    Interlocked.CompareExchange(ref mismatch, file.Name, null);
                    state.Stop();
                }
            }
            finally
            {
                cores?.Release();
            }
        });
        return mismatch;
    }

    private static string Mismatch(string name) => $"{name} does not match its SHA-256 in the manifest: it was changed after the checkpoint.";

    private static ManifestCheck Changed(Stopwatch stopwatch, string problem) =>
        new(ManifestStatus.Changed, 0, 0, stopwatch.Elapsed.TotalMilliseconds, problem + " Take a new checkpoint, or copy the image again.");

    /// <summary>
    /// The memory pages' hashes, computed in the background from its creation while CRIU restores;
    /// <see cref="Result"/> is the whole image's check. Disposing stops the hashing.
    /// </summary>
    internal sealed class PagesCheck : IDisposable
    {
        private readonly CancellationTokenSource _cancellation = new();

        // CRIU's restore is the path, so a core is left to it (UseAllCores gives it back).
        private readonly SemaphoreSlim _cores = new(Math.Max(1, Environment.ProcessorCount - 1), Environment.ProcessorCount);
        private int _allCores;

        internal PagesCheck(string directory, ImageFile[] pages, ManifestCheck before)
        {
            Bytes = pages.Sum(file => file.Size);
            CancellationToken cancellationToken = _cancellation.Token;
            Result = Task.Run(() =>
            {
                var stopwatch = Stopwatch.StartNew();
                string? mismatch;
                try
                {
                    // On 2 cores, CRIU restored a 225 MB image in 385 ms (median) while both hashed, 359 ms
                    // while one did, 327 ms with no hashing: one core is left to CRIU until UseAllCores.
                    mismatch = FindMismatch(directory, pages, Environment.ProcessorCount, cancellationToken, _cores);
                }
                catch (AggregateException exception) when (exception.InnerException is IOException or UnauthorizedAccessException)
                {
                    return Changed(stopwatch, $"Its memory pages cannot be read: {exception.InnerException.Message}");
                }

                double hashing = stopwatch.Elapsed.TotalMilliseconds;
                return mismatch is not null
                    ? Changed(stopwatch, Mismatch(mismatch))
                    : before with
                    {
                        Milliseconds = before.Milliseconds + hashing,
                        DuringRestore = new PagesChecked(pages.Length, pages.Sum(file => file.Size), hashing),
                    };
            }, cancellationToken);
        }

        /// <summary>
        /// Hashes on every core: for a lazy restore, where CRIU copies no pages and the process
        /// waits for this verdict alone, and for pages checked before CRIU starts.
        /// </summary>
        public void UseAllCores()
        {
            if (Interlocked.Exchange(ref _allCores, 1) == 0 && Environment.ProcessorCount > 1)
            {
                _cores.Release();
            }
        }

        /// <summary>The memory pages' size, as the manifest (already checked against the files) gives it.</summary>
        public long Bytes { get; }

        /// <summary>The whole image's check: Verified with <see cref="ManifestCheck.DuringRestore"/>, or Changed naming the pages file.</summary>
        public Task<ManifestCheck> Result { get; }

        public void Dispose()
        {
            _cancellation.Cancel();
            try
            {
                Result.Wait();
            }
            catch (AggregateException exception) when (exception.InnerExceptions.All(inner => inner is OperationCanceledException))
            {
                // Stopped: nobody waits for this verdict any more.
            }

            _cancellation.Dispose();
            _cores.Dispose();
        }
    }

    private static IEnumerable<string> CheckedFiles(string directory) =>
        Directory.EnumerateFiles(directory).Select(Path.GetFileName).OfType<string>().Where(name => !Unchecked.Contains(name)).Order(StringComparer.Ordinal);

    private static int Chunks(long size) => (int)Math.Max(1, (size + ChunkSize - 1) / ChunkSize);

    /// <summary>
    /// Every chunk of every file from <paramref name="firstChunks"/>' (all when null), the largest
    /// files first, so the big pages file starts at once and the small ones fill the other cores.
    /// </summary>
    private static IEnumerable<(int File, int Chunk)> WorkItems(long[] sizes, int[]? firstChunks = null) =>
        Enumerable.Range(0, sizes.Length).OrderByDescending(i => sizes[i])
            .SelectMany(i => Enumerable.Range(firstChunks?[i] ?? 0, Chunks(sizes[i]) - (firstChunks?[i] ?? 0)).Select(chunk => (i, chunk)));

    private static string HashChunk(string path, int chunk)
    {
        using Microsoft.Win32.SafeHandles.SafeFileHandle file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long offset = (long)chunk * ChunkSize;
        long end = Math.Min(RandomAccess.GetLength(file), offset + ChunkSize);
        // Most of an image's files are a few KB: a buffer their size, not a fresh MiB whose pages
        // the kernel must fault in (12-16 us a page on a machine measured here).
        byte[] buffer = System.Buffers.ArrayPool<byte>.Shared.Rent((int)Math.Clamp(end - offset, 4096, ReadBufferSize));
        try
        {
            int read;
            while (offset < end && (read = RandomAccess.Read(file, buffer.AsSpan(0, (int)Math.Min(ReadBufferSize, end - offset)), offset)) > 0)
            {
                hash.AppendData(buffer, 0, read);
                offset += read;
            }

            return Convert.ToHexStringLower(hash.GetHashAndReset());
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}

/// <summary>One file of an image: its name in the directory, its size, and the SHA-256 (lower-case hex) of each <see cref="ImageManifest.ChunkSize"/> chunk.</summary>
internal sealed record ImageFile(string Name, long Size, IReadOnlyList<string> Sha256);

[System.Text.Json.Serialization.JsonConverter(typeof(System.Text.Json.Serialization.JsonStringEnumConverter<ManifestStatus>))]
internal enum ManifestStatus
{
    /// <summary>Every file is there, with its size and hash.</summary>
    Verified,

    /// <summary>The image has no manifest: nothing could be checked.</summary>
    Absent,

    /// <summary>A file is missing, added, truncated or changed.</summary>
    Changed,
}

/// <summary>What checking an image against its manifest found, and how long the hashing took (<see cref="DuringRestore"/>'s included).</summary>
internal sealed record ManifestCheck(ManifestStatus Status, int Files, long Bytes, double Milliseconds, string? Problem)
{
    /// <summary>The memory pages, hashed while CRIU restored (it resumed the process only once they matched); null when checked before CRIU.</summary>
    public PagesChecked? DuringRestore { get; init; }
}

/// <summary>The memory pages files checked while CRIU restored: how many, their bytes, and how long hashing them took.</summary>
internal sealed record PagesChecked(int Files, long Bytes, double Milliseconds);
