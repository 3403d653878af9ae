using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Crac.Runtime;

/// <summary>
/// Visits every object on this process's GC heap with the runtime suspended, through
/// libcrac-heapwalk.so: a CLR profiler the process attaches to itself once (before its first
/// checkpoint, so the restore path does not pay for it), which uses .NET 10's
/// ICorProfilerInfo15.EnumerateGCHeapObjects. The walk reseeds one type's state in place and
/// counts others.
/// </summary>
internal static unsafe class HeapWalk
{
    public const string LibraryName = "libcrac-heapwalk.so";
    public const int MaxCountedTypes = 8;

    private static readonly Guid Clsid = new("9C5D2A51-7E1B-4F0C-8D3A-6B2E4C1F0A97");
    private static readonly Lock Gate = new();
    private static delegate* unmanaged<WalkRequest*, int> _run;
    private static string? _unavailable;

    /// <summary>The directory the agent was loaded from, where the library ships; set by the agent.</summary>
    public static string? AgentDirectory { get; set; }

    /// <summary>Why the heap cannot be walked, or null once the profiler is attached.</summary>
    public static string? Unavailable
    {
        get
        {
            lock (Gate)
            {
                return _run is null ? _unavailable ?? "the heap-walk profiler is not attached yet" : null;
            }
        }
    }

    /// <summary>Attaches the profiler once; returns null when attached, else why it is not.</summary>
    public static string? EnsureAttached()
    {
        lock (Gate)
        {
            if (_run is not null)
            {
                return null;
            }

            if (_unavailable is not null)
            {
                // An attach that failed is not retried: the reason stays what it was.
                return _unavailable;
            }

            _unavailable = Attach();
            return _unavailable;
        }
    }

    private static string? Attach()
    {
        string? path = Locate();
        if (path is null)
        {
            return $"{LibraryName} is not beside the agent ({AgentDirectory ?? "the agent is not loaded"})";
        }

        nint library;
        try
        {
            library = NativeLibrary.Load(path);
        }
        catch (DllNotFoundException exception)
        {
            return $"{path} cannot be loaded: {exception.Message}";
        }

        if (!NativeLibrary.TryGetExport(library, "crac_heapwalk_attached", out nint attachedExport)
            || !NativeLibrary.TryGetExport(library, "crac_heapwalk_run", out nint runExport))
        {
            return $"{path} is not the heap-walk library this agent expects";
        }

        var attached = (delegate* unmanaged<int>)attachedExport;
        if (attached() == 0)
        {
            int hresult;
            try
            {
                hresult = ProfilerAttach.Attach(Clsid, path, TimeSpan.FromSeconds(10));
            }
            catch (Exception exception) when (exception is IOException or SocketException or ArgumentException)
            {
                return $"the runtime's diagnostics server could not attach it: {exception.Message}";
            }

            if (hresult != 0 || attached() == 0)
            {
                return $"the runtime refused to attach {LibraryName}: {ProfilerAttach.Describe(hresult)}";
            }
        }

        _run = (delegate* unmanaged<WalkRequest*, int>)runExport;
        return null;
    }

    private static string? Locate()
    {
        foreach (string? directory in new[] { AgentDirectory, AppContext.BaseDirectory, Path.Combine(AppContext.BaseDirectory, "runtimes", RuntimeInformation.RuntimeIdentifier, "native") })
        {
            if (directory is not null && File.Exists(Path.Combine(directory, LibraryName)))
            {
                return Path.GetFullPath(Path.Combine(directory, LibraryName));
            }
        }

        return null;
    }

    /// <summary>
    /// Walks the heap: fills every object of <paramref name="reseed"/> (bar its method-table
    /// pointer) with <paramref name="reseedBytes"/> fresh bytes from getrandom(2), and counts the
    /// objects of each of <paramref name="counted"/>.
    /// </summary>
    /// <exception cref="InvalidOperationException">The profiler is not attached, or the walk failed.</exception>
    public static WalkResult Run(Type? reseed, int reseedBytes, IReadOnlyList<Type> counted)
    {
        if (counted.Count > MaxCountedTypes || reseedBytes is < 0 or > 64)
        {
            throw new ArgumentOutOfRangeException(nameof(counted));
        }

        delegate* unmanaged<WalkRequest*, int> run;
        lock (Gate)
        {
            run = _run;
        }

        if (run is null)
        {
            throw new InvalidOperationException(Unavailable);
        }

        var request = new WalkRequest
        {
            // For a non-array type the method table, which heads every instance, is the type handle.
            ReseedType = reseed is null ? 0 : reseed.TypeHandle.Value,
            ReseedBytes = (uint)reseedBytes,
            CountedTypeCount = (uint)counted.Count,
        };
        for (int i = 0; i < counted.Count; i++)
        {
            request.CountedTypes[i] = counted[i].TypeHandle.Value;
        }

        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        int hresult = run(&request);
        TimeSpan elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(started);
        if (hresult != 0)
        {
            throw new InvalidOperationException($"EnumerateGCHeapObjects failed with {ProfilerAttach.Describe(hresult)}.");
        }

        long[] counts = new long[counted.Count];
        for (int i = 0; i < counts.Length; i++)
        {
            counts[i] = request.Counts[i];
        }

        return new WalkResult(request.Objects, request.Reseeded, request.Failures, counts, elapsed);
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct WalkRequest
    {
        public nint ReseedType;
        public uint ReseedBytes;
        public uint CountedTypeCount;
        public fixed long CountedTypes[MaxCountedTypes];
        public fixed long Counts[MaxCountedTypes];
        public long Reseeded;
        public long Objects;
        public long Failures;
    }
}

/// <summary>What one heap walk saw and did.</summary>
internal sealed record WalkResult(long Objects, long Reseeded, long Failures, IReadOnlyList<long> Counts, TimeSpan Elapsed);
