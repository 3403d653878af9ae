using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Crac.Tool.Inspect;

/// <summary>
/// Where each byte of a CRIU image's page files came from. A process's pagemap-PID.img lists
/// runs of pages (a virtual address and a page count) in the order their contents follow each
/// other in pages-ID.img; its mm-PID.img lists the memory areas (VMAs) with what they are (heap,
/// stack, a file's private copy, anonymous memory); files.img names the files. Shared memory
/// (memfd, shared anonymous maps) has a pagemap-shmem-ID.img of its own. CRIU's image files are
/// two magic numbers, then entries of a 32-bit length and a protobuf message; only the few
/// fields needed here are decoded.
/// </summary>
internal sealed partial class CriuImageMemory
{
    private const int PageSize = 4096;

    // pagemap_entry.flags, and vma_entry.status bits (criu/include/image.h).
    private const uint PagePresent = 1 << 2;
    private const uint PageInParent = 1 << 0;
    private const uint VmaStack = 1 << 1;
    private const uint VmaVdso = 1 << 3;
    private const uint VmaHeap = 1 << 5;
    private const uint VmaFilePrivate = 1 << 6;
    private const uint VmaFileShared = 1 << 7;
    private const uint VmaAnonShared = 1 << 8;
    private const uint VmaAnonPrivate = 1 << 9;
    private const uint VmaVvar = 1 << 12;
    private const uint VmaMemfd = 1 << 14;

    private readonly Dictionary<string, List<PageRun>> _runsByPagesFile = new(StringComparer.Ordinal);

    private CriuImageMemory(string directory) => Directory = directory;

    public string Directory { get; }

    /// <summary>The page files, in name order, and their sizes.</summary>
    public IReadOnlyList<(string Path, long Length)> PageFiles { get; private set; } = [];

    /// <summary>One run of pages: where its bytes are in a pages file, and whose memory they were.</summary>
    internal sealed record PageRun(long FileOffset, long Length, ulong Address, int? Pid, string Region, MemoryKind Kind = MemoryKind.Other);

    /// <summary>The image's memory pages by kind (bytes), every kind listed.</summary>
    public IReadOnlyDictionary<MemoryKind, long> SizeByKind()
    {
        var sizes = Enum.GetValues<MemoryKind>().ToDictionary(kind => kind, _ => 0L);
        foreach (PageRun run in _runsByPagesFile.Values.SelectMany(runs => runs))
        {
            sizes[run.Kind] += run.Length;
        }

        return sizes;
    }

    /// <summary>Reads the maps of every process (and shared memory) in the image directory.</summary>
    /// <exception cref="InvalidDataException">An image file is truncated or malformed.</exception>
    public static CriuImageMemory Read(string directory)
    {
        var image = new CriuImageMemory(directory);
        Dictionary<uint, string> files = ReadFileNames(Path.Combine(directory, "files.img"));
        foreach (string pagemap in System.IO.Directory.GetFiles(directory, "pagemap-*.img").Order(StringComparer.Ordinal))
        {
            string name = Path.GetFileNameWithoutExtension(pagemap);
            if (PidPagemap().Match(name) is { Success: true } pid)
            {
                int processId = int.Parse(pid.Groups[1].Value, CultureInfo.InvariantCulture);
                IReadOnlyList<Vma> vmas = ReadVmas(Path.Combine(directory, $"mm-{processId}.img"));
                IReadOnlyList<(ulong Start, ulong End)> gcReservations = GcReservations(vmas);
                image.AddRuns(pagemap, processId, address =>
                {
                    Vma? vma = vmas.FirstOrDefault(v => address >= v.Start && address < v.End);
                    return (Describe(vma, files, address), Classify(vma, gcReservations));
                });
            }
            else if (ShmemPagemap().Match(name) is { Success: true } shmem)
            {
                string region = $"shared memory {shmem.Groups[1].Value} (memfd or a shared anonymous map)";
                // W^X keeps the JIT's code in memfd:doublemapper, the one memfd a .NET process makes.
                MemoryKind kind = MentionsDoubleMapper(Path.Combine(directory, "memfd.img")) ? MemoryKind.MemfdDoubleMapper : MemoryKind.Other;
                image.AddRuns(pagemap, null, _ => (region, kind));
            }
        }

        image.PageFiles = [.. System.IO.Directory.GetFiles(directory, "pages-*.img").Order(StringComparer.Ordinal).Select(f => (f, new FileInfo(f).Length))];
        return image;
    }

    /// <summary>
    /// The largest private anonymous area of any process in the image, in bytes (a .NET process's
    /// is the GC's address reservation: 256 GiB with no memory limit); 0 when there is none.
    /// </summary>
    public static long LargestPrivateArea(string directory) =>
        System.IO.Directory.GetFiles(directory, "mm-*.img")
            .SelectMany(ReadVmas)
            .Where(vma => (vma.Status & VmaAnonPrivate) != 0)
            .Select(vma => (long)(vma.End - vma.Start))
            .DefaultIfEmpty(0)
            .Max();

    /// <summary>Where a byte of a pages file came from, or null when no pagemap names it.</summary>
    public (ulong Address, int? Pid, string Region)? Locate(string pagesFile, long offset)
    {
        if (!_runsByPagesFile.TryGetValue(Path.GetFileName(pagesFile), out List<PageRun>? runs))
        {
            return null;
        }

        int low = 0;
        int high = runs.Count - 1;
        while (low <= high)
        {
            int middle = (low + high) / 2;
            PageRun run = runs[middle];
            if (offset < run.FileOffset)
            {
                high = middle - 1;
            }
            else if (offset >= run.FileOffset + run.Length)
            {
                low = middle + 1;
            }
            else
            {
                return (run.Address + (ulong)(offset - run.FileOffset), run.Pid, run.Region);
            }
        }

        return null;
    }

    private void AddRuns(string pagemapPath, int? pid, Func<ulong, (string Region, MemoryKind Kind)> region)
    {
        List<byte[]> entries = ReadEntries(pagemapPath);
        if (entries.Count == 0)
        {
            return;
        }

        uint pagesId = (uint)(Fields(entries[0]).FirstOrDefault(f => f.Number == 1).Value);
        string pagesFile = $"pages-{pagesId}.img";
        if (!_runsByPagesFile.TryGetValue(pagesFile, out List<PageRun>? runs))
        {
            runs = [];
            _runsByPagesFile[pagesFile] = runs;
        }

        long offset = runs.Count == 0 ? 0 : runs[^1].FileOffset + runs[^1].Length;
        foreach (byte[] entry in entries.Skip(1))
        {
            ulong address = 0;
            ulong pages = 0;
            ulong? widePages = null;
            bool inParent = false;
            uint? flags = null;
            foreach ((int number, ulong value, _) in Fields(entry))
            {
                switch (number)
                {
                    case 1: address = value; break;
                    case 2: pages = value; break;
                    case 3: inParent = value != 0; break;
                    case 4: flags = (uint)value; break;
                    // CRIU 4 writes the page count as a 64-bit nr_pages (5), leaving the old 32-bit field 0.
                    case 5: widePages = value; break;
                }
            }

            pages = widePages ?? pages;

            // Only present pages have their contents here; those in a parent image or lazy do not.
            bool present = flags is { } f ? (f & PagePresent) != 0 && (f & PageInParent) == 0 : !inParent;
            if (!present)
            {
                continue;
            }

            long length = (long)pages * PageSize;
            (string name, MemoryKind kind) = region(address);
            runs.Add(new PageRun(offset, length, address, pid, name, kind));
            offset += length;
        }
    }

    private static string Describe(Vma? vma, Dictionary<uint, string> files, ulong address)
    {
        if (vma is not { } area)
        {
            return "memory outside every mapped area";
        }

        string range = string.Create(CultureInfo.InvariantCulture, $"0x{area.Start:x}-0x{area.End:x}");
        uint status = area.Status;
        return status switch
        {
            _ when (status & VmaHeap) != 0 => $"the native heap ([heap] {range})",
            _ when (status & VmaStack) != 0 => $"a thread stack ({range})",
            _ when (status & (VmaVdso | VmaVvar)) != 0 => $"the vDSO ({range})",
            _ when (status & VmaMemfd) != 0 => $"a memfd mapping ({range})",
            _ when (status & (VmaFilePrivate | VmaFileShared)) != 0 =>
                $"{(files.TryGetValue((uint)area.ShmId, out string? name) ? name : "a file")} (its {((status & VmaFileShared) != 0 ? "shared" : "privately modified")} pages, {range})",
            _ when (status & VmaAnonShared) != 0 => $"shared anonymous memory ({range})",
            _ when (status & VmaAnonPrivate) != 0 => $"anonymous memory: the managed heap or native allocations ({range})",
            _ => $"memory area {range}",
        };
    }

    /// <summary>
    /// The kind of a process's page, from its mapping alone (an estimate: the image does not say
    /// which allocator owns anonymous memory): the native heap is [heap] and anonymous memory
    /// outside the GC's reservation; the GC heap is anonymous memory inside a contiguous
    /// reservation of 1 GiB or more (the GC reserves its whole address range up front); JIT code
    /// is anonymous executable memory (W^X off) or a memfd mapping (W^X on).
    /// </summary>
    private static MemoryKind Classify(Vma? vma, IReadOnlyList<(ulong Start, ulong End)> gcReservations)
    {
        if (vma is not { } area)
        {
            return MemoryKind.Other;
        }

        uint status = area.Status;
        return status switch
        {
            _ when (status & VmaHeap) != 0 => MemoryKind.NativeHeap,
            _ when (status & VmaMemfd) != 0 => MemoryKind.MemfdDoubleMapper,
            _ when (status & VmaAnonPrivate) == 0 || (status & (VmaStack | VmaVdso | VmaVvar)) != 0 => MemoryKind.Other,
            _ when (area.Protection & ProtExec) != 0 => MemoryKind.JitCode,
            _ when gcReservations.Any(r => area.Start >= r.Start && area.End <= r.End) => MemoryKind.GcHeap,
            _ => MemoryKind.NativeHeap,
        };
    }

    private const ulong ProtExec = 4;
    private const ulong GcReservationMinimum = 1UL << 30;

    /// <summary>Runs of adjacent anonymous private areas spanning 1 GiB or more: the GC's reservations.</summary>
    private static IReadOnlyList<(ulong Start, ulong End)> GcReservations(IReadOnlyList<Vma> vmas)
    {
        var reservations = new List<(ulong, ulong)>();
        ulong start = 0, end = 0;
        foreach (Vma vma in vmas.Where(v => (v.Status & VmaAnonPrivate) != 0 && (v.Protection & ProtExec) == 0).OrderBy(v => v.Start))
        {
            if (vma.Start != end)
            {
                if (end - start >= GcReservationMinimum)
                {
                    reservations.Add((start, end));
                }

                start = vma.Start;
            }

            end = vma.End;
        }

        if (end - start >= GcReservationMinimum)
        {
            reservations.Add((start, end));
        }

        return reservations;
    }

    private static bool MentionsDoubleMapper(string memfdImage) =>
        File.Exists(memfdImage) && File.ReadAllBytes(memfdImage).AsSpan().IndexOf("doublemapper"u8) >= 0;

    private sealed record Vma(ulong Start, ulong End, ulong ShmId, uint Status, ulong Protection);

    /// <summary>mm_entry.vmas (field 14): start (1), end (2), shmid (4), prot (5), status (7).</summary>
    private static IReadOnlyList<Vma> ReadVmas(string path)
    {
        var vmas = new List<Vma>();
        if (!File.Exists(path))
        {
            return vmas;
        }

        foreach (byte[] entry in ReadEntries(path))
        {
            foreach ((int number, _, ReadOnlyMemory<byte> bytes) in Fields(entry))
            {
                if (number != 14)
                {
                    continue;
                }

                ulong start = 0, end = 0, shmid = 0, protection = 0;
                uint status = 0;
                foreach ((int field, ulong value, _) in Fields(bytes.ToArray()))
                {
                    switch (field)
                    {
                        case 1: start = value; break;
                        case 2: end = value; break;
                        case 4: shmid = value; break;
                        case 5: protection = value; break;
                        case 7: status = (uint)value; break;
                    }
                }

                vmas.Add(new Vma(start, end, shmid, status, protection));
            }
        }

        return vmas;
    }

    /// <summary>files.img: file_entry { id (2), reg (3): reg_file_entry { name (6) } }.</summary>
    private static Dictionary<uint, string> ReadFileNames(string path)
    {
        var names = new Dictionary<uint, string>();
        if (!File.Exists(path))
        {
            return names;
        }

        foreach (byte[] entry in ReadEntries(path))
        {
            uint id = 0;
            string? name = null;
            foreach ((int number, ulong value, ReadOnlyMemory<byte> bytes) in Fields(entry))
            {
                if (number == 2)
                {
                    id = (uint)value;
                }
                else if (number == 3)
                {
                    name = Fields(bytes.ToArray()).Where(f => f.Number == 6).Select(f => Encoding.UTF8.GetString(f.Bytes.Span)).FirstOrDefault();
                }
            }

            if (name is not null)
            {
                names[id] = name;
            }
        }

        return names;
    }

    /// <summary>An image file's entries: after its two magic numbers, each is a little-endian u32 length and that many bytes.</summary>
    internal static List<byte[]> ReadEntries(string path)
    {
        byte[] data = File.ReadAllBytes(path);
        var entries = new List<byte[]>();
        int offset = 8;
        while (offset + 4 <= data.Length)
        {
            int length = (int)BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan(offset));
            offset += 4;
            if (length < 0 || offset + length > data.Length)
            {
                throw new InvalidDataException($"{path} is truncated: an entry of {length} bytes at offset {offset - 4} runs past its end ({data.Length} bytes).");
            }

            entries.Add(data.AsSpan(offset, length).ToArray());
            offset += length;
        }

        return entries;
    }

    /// <summary>A protobuf message's fields: varints as values, length-delimited ones as bytes; fixed-size ones skipped.</summary>
    internal static IEnumerable<(int Number, ulong Value, ReadOnlyMemory<byte> Bytes)> Fields(byte[] message)
    {
        int offset = 0;
        while (offset < message.Length)
        {
            ulong key = ReadVarint(message, ref offset);
            int number = (int)(key >> 3);
            switch ((int)(key & 7))
            {
                case 0:
                    yield return (number, ReadVarint(message, ref offset), ReadOnlyMemory<byte>.Empty);
                    break;
                case 1:
                    offset += 8;
                    break;
                case 2:
                    int length = (int)ReadVarint(message, ref offset);
                    if (length < 0 || offset + length > message.Length)
                    {
                        throw new InvalidDataException($"a protobuf field {number} of {length} bytes runs past its message.");
                    }

                    yield return (number, 0, message.AsMemory(offset, length));
                    offset += length;
                    break;
                case 5:
                    offset += 4;
                    break;
                default:
                    throw new InvalidDataException($"unsupported protobuf wire type {key & 7} in field {number}.");
            }
        }
    }

    private static ulong ReadVarint(byte[] data, ref int offset)
    {
        ulong value = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (offset >= data.Length)
            {
                throw new InvalidDataException("a protobuf varint runs past its message.");
            }

            byte b = data[offset++];
            value |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
            {
                return value;
            }
        }

        throw new InvalidDataException("a protobuf varint is longer than 10 bytes.");
    }

    [GeneratedRegex(@"^pagemap-(\d+)$")]
    private static partial Regex PidPagemap();

    [GeneratedRegex(@"^pagemap-shmem-(\d+)$")]
    private static partial Regex ShmemPagemap();
}

/// <summary>What a page of an image holds, as far as its mapping tells (see CriuImageMemory.Classify).</summary>
[System.Text.Json.Serialization.JsonConverter(typeof(Crac.Diagnostics.KebabCaseEnumConverter<MemoryKind>))]
internal enum MemoryKind
{
    GcHeap,
    JitCode,
    NativeHeap,
    MemfdDoubleMapper,
    Other,
}
