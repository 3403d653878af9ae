using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Crac.Tool.Output;

namespace Crac.Tool.Inspect;

/// <summary>
/// Scans an image's page files for likely secrets (<see cref="SecretPatterns"/>) and says where
/// each was: the page file and offset, and, through the image's maps, the process, the virtual
/// address and the kind of memory. A secret's value never leaves this class: copies of one value
/// are told apart only by a hash kept in memory, and nothing of it is printed.
/// </summary>
internal static class SecretScanner
{
    private const int ChunkSize = 4 << 20;

    // Longer than any secret the patterns take (a 4096-bit PEM key is about 3.3 KB; UTF-16 doubles it).
    private const int Overlap = 16 << 10;

    public static SecretScan Scan(CriuImageMemory image, int maxLocationsPerSecret = 5)
    {
        var stopwatch = Stopwatch.StartNew();
        var secrets = new Dictionary<(string Kind, string Hash), Accumulated>();
        var seen = new HashSet<(string File, long Offset, string Kind)>();
        long scanned = 0;
        foreach ((string path, long length) in image.PageFiles)
        {
            using FileStream stream = File.OpenRead(path);
            byte[] buffer = new byte[ChunkSize + Overlap];
            char[] latin = new char[ChunkSize + Overlap];
            long chunkStart = 0;
            while (chunkStart < length)
            {
                stream.Position = chunkStart;
                int read = stream.ReadAtLeast(buffer, (int)Math.Min(buffer.Length, length - chunkStart), throwOnEndOfStream: false);
                if (read == 0)
                {
                    break;
                }

                ReadOnlySpan<byte> bytes = buffer.AsSpan(0, read);
                Encoding.Latin1.GetChars(bytes, latin);
                ScanView(latin.AsSpan(0, read), 1, "ASCII/UTF-8");
                ScanView(MemoryMarshal.Cast<byte, char>(bytes[..(read & ~1)]), 2, "UTF-16");
                scanned += Math.Min(read, ChunkSize);
                chunkStart += ChunkSize;

                void ScanView(ReadOnlySpan<char> text, int bytesPerChar, string encoding)
                {
                    foreach (SecretPatterns.Kind kind in SecretPatterns.All)
                    {
                        foreach (ValueMatch match in kind.Pattern.EnumerateMatches(text))
                        {
                            long offset = chunkStart + ((long)match.Index * bytesPerChar);
                            if (!seen.Add((path, offset, kind.Name)))
                            {
                                continue;
                            }

                            string hash = Convert.ToHexString(SHA256.HashData(MemoryMarshal.AsBytes(text.Slice(match.Index, match.Length))));
                            if (!secrets.TryGetValue((kind.Name, hash), out Accumulated? secret))
                            {
                                secret = new Accumulated(kind.Name, match.Length);
                                secrets[(kind.Name, hash)] = secret;
                            }

                            secret.Encodings.Add(encoding);
                            secret.Copies++;
                            if (secret.Locations.Count < maxLocationsPerSecret)
                            {
                                (ulong Address, int? Pid, string Region)? where = image.Locate(path, offset);
                                secret.Locations.Add(new SecretLocation(
                                    Path.GetFileName(path),
                                    offset,
                                    where?.Pid,
                                    where is { } w ? string.Create(CultureInfo.InvariantCulture, $"0x{w.Address:x}") : null,
                                    where?.Region ?? "a page no pagemap names"));
                            }
                        }
                    }
                }
            }
        }

        // The most telling kinds first, as the patterns list them; more copies first within a kind.
        List<string> order = [.. SecretPatterns.All.Select(k => k.Name)];
        SecretFinding[] findings =
        [
            .. secrets.Values
                .OrderBy(s => order.IndexOf(s.Kind))
                .ThenByDescending(s => s.Copies)
                .Select(s => new SecretFinding(s.Kind, string.Join(", ", s.Encodings.Order(StringComparer.Ordinal)), s.Length, s.Copies, s.Locations)),
        ];
        return new SecretScan(image.PageFiles.Count, scanned, stopwatch.Elapsed.TotalMilliseconds, findings);
    }

    private sealed class Accumulated(string kind, int length)
    {
        public string Kind { get; } = kind;

        public int Length { get; } = length;

        public int Copies { get; set; }

        public SortedSet<string> Encodings { get; } = new(StringComparer.Ordinal);

        public List<SecretLocation> Locations { get; } = [];
    }
}
