using System.Security.Cryptography;
using Crac.Interop;
using Microsoft.Win32.SafeHandles;

namespace Crac.Engines;

/// <summary>
/// Hashes an image's memory pages files while CRIU writes them, so that the manifest written
/// after the dump (<see cref="ImageManifest.Write(string, PagesFollower?)"/>) is left with the
/// small files and the pages' last bytes. CRIU only appends to a pages file (it splices pages at
/// the file's position, criu/page-xfer.c), and the process it dumps is frozen, so a core would
/// otherwise idle through the dump. A file that did not grow as followed (replaced, or shorter
/// than what was read) is hashed again from its start by the manifest; a restore checks every
/// hash either way.
/// </summary>
internal sealed class PagesFollower : IDisposable
{
    // CRIU writes an image's pages in bursts: a new burst is read within this.
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(2);

    private readonly string _directory;
    private readonly Dictionary<string, FollowedPages> _files = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private readonly Thread _thread;
    private bool _stopped;
    private bool _failed;

    private PagesFollower(string directory)
    {
        _directory = directory;
        _thread = new Thread(Follow) { IsBackground = true, Name = "crac pages follower" };
        _thread.Start();
    }

    /// <summary>Starts following the pages files CRIU is about to write into <paramref name="directory"/>.</summary>
    public static PagesFollower Start(string directory) => new(directory);

    /// <summary>Stops following; what was hashed of each pages file, by name, for the manifest to finish.</summary>
    public IReadOnlyDictionary<string, FollowedPages> Stop()
    {
        if (!_stopped)
        {
            _stopped = true;
            _stop.Cancel();
            _thread.Join();
        }

        // A read that failed leaves nothing trustworthy: the manifest hashes every file itself.
        return _failed ? new Dictionary<string, FollowedPages>() : _files;
    }

    public void Dispose()
    {
        Stop();
        foreach (FollowedPages file in _files.Values)
        {
            file.Dispose();
        }

        _stop.Dispose();
    }

    private void Follow()
    {
        CancellationToken token = _stop.Token;
        byte[] buffer = new byte[ImageManifest.ReadBufferSize];
        try
        {
            while (!token.IsCancellationRequested)
            {
                bool read = false;
                foreach (string path in Directory.EnumerateFiles(_directory))
                {
                    string name = Path.GetFileName(path);
                    if (!ImageManifest.IsMemoryPages(name))
                    {
                        continue;
                    }

                    if (!_files.TryGetValue(name, out FollowedPages? file))
                    {
                        _files[name] = file = new FollowedPages(File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite));
                    }

                    read |= file.CatchUp(buffer, long.MaxValue, token);
                }

                if (!read)
                {
                    token.WaitHandle.WaitOne(PollInterval);
                }
            }
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            _failed = true;
        }
    }
}

/// <summary>
/// One pages file as far as it was hashed while CRIU wrote it: the SHA-256 of each whole
/// <see cref="ImageManifest.ChunkSize"/> chunk read, and the chunk in progress.
/// </summary>
internal sealed class FollowedPages : IDisposable
{
    private readonly SafeFileHandle _handle;
    private readonly IncrementalHash _current = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly List<string> _chunks = [];
    private bool _shrank;

    internal FollowedPages(SafeFileHandle handle) => _handle = handle;

    /// <summary>The SHA-256 of each whole chunk read, from the file's start.</summary>
    public IReadOnlyList<string> Chunks => _chunks;

    /// <summary>How far the file was read.</summary>
    public long Offset { get; private set; }

    /// <summary>
    /// Whether what was read can stand for <paramref name="path"/> at <paramref name="size"/> bytes:
    /// the same file, never seen shorter than what was read, and not shorter now.
    /// </summary>
    public bool Describes(string path, long size) =>
        !_shrank && Offset <= size
        && Libc.TryGetInode((int)_handle.DangerousGetHandle(), out ulong followed)
        && Libc.statx(Libc.AT_FDCWD, path, Libc.AT_SYMLINK_NOFOLLOW, Libc.STATX_BASIC_STATS, out Libc.StatX stat) == 0
        && stat.Inode == followed;

    /// <summary>Reads and hashes what was appended since the last call, up to <paramref name="end"/>; whether anything was.</summary>
    public bool CatchUp(byte[] buffer, long end, CancellationToken cancellationToken)
    {
        long length = RandomAccess.GetLength(_handle);
        _shrank |= length < Offset;
        end = Math.Min(end, length);
        bool read = false;
        while (Offset < end && !cancellationToken.IsCancellationRequested)
        {
            long chunkEnd = (Offset / ImageManifest.ChunkSize + 1) * ImageManifest.ChunkSize;
            int bytes = RandomAccess.Read(_handle, buffer.AsSpan(0, (int)Math.Min(buffer.Length, Math.Min(end, chunkEnd) - Offset)), Offset);
            if (bytes == 0)
            {
                break;
            }

            _current.AppendData(buffer, 0, bytes);
            Offset += bytes;
            read = true;
            if (Offset == chunkEnd)
            {
                _chunks.Add(Convert.ToHexStringLower(_current.GetHashAndReset()));
            }
        }

        return read;
    }

    /// <summary>
    /// The SHA-256 of the chunk in progress (index <see cref="Chunks"/>' count), read to its end in a
    /// file of <paramref name="size"/> bytes; null when the file ended before it.
    /// </summary>
    public string? FinishChunk(long size)
    {
        int chunk = _chunks.Count;
        long chunkEnd = Math.Min(size, (chunk + 1L) * ImageManifest.ChunkSize);
        CatchUp(new byte[(int)Math.Clamp(chunkEnd - Offset, 4096, ImageManifest.ReadBufferSize)], chunkEnd, CancellationToken.None);
        if (Offset != chunkEnd)
        {
            return null;
        }

        // A whole chunk was finished by the read itself.
        return _chunks.Count > chunk ? _chunks[chunk] : Convert.ToHexStringLower(_current.GetHashAndReset());
    }

    public void Dispose()
    {
        _current.Dispose();
        _handle.Dispose();
    }
}
