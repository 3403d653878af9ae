using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;
using Crac.Diagnostics;
using Crac.Interop;

namespace Crac.FileDescriptors;

/// <summary>
/// Opt-in recording of where each descriptor is created (CRAC_COLLECT_FD_STACKTRACES=true). The
/// preloaded libcrac-fdtrack.so wraps the libc calls that create descriptors and calls back here
/// with the descriptor and a native backtrace; this adds the managed stack, the thread and the time.
/// Managed opens (FileStream, sockets, pipes, Process redirection) all reach libc through the
/// runtime's native shims, so they are all seen; so are opens by native libraries.
/// </summary>
internal static unsafe partial class FdOrigins
{
    public const string EnvironmentVariable = "CRAC_COLLECT_FD_STACKTRACES";
    public const string LibraryName = "libcrac-fdtrack.so";

    private static readonly ConcurrentDictionary<int, Recorded> Records = new();

    public static bool Enabled => string.Equals(Environment.GetEnvironmentVariable(EnvironmentVariable), "true", StringComparison.OrdinalIgnoreCase);

    public static string NotPreloadedMessage =>
        $"{LibraryName} is not preloaded. Start the application with `dotnet crac run --collect-fd-stacktraces -- ...`, or with LD_PRELOAD=<agent directory>/{LibraryName}.";

    /// <summary>Whether the tracker is preloaded and reporting to this process.</summary>
    public static bool Tracking { get; private set; }

    /// <summary>Registers with the preloaded tracker; false when it is not preloaded.</summary>
    public static bool Start()
    {
        if (!NativeLibrary.TryGetExport(NativeLibrary.GetMainProgramHandle(), "crac_fdtrack_register", out nint register))
        {
            Console.Error.WriteLine($"crac: {EnvironmentVariable}=true, but {NotPreloadedMessage}");
            return false;
        }

        ((delegate* unmanaged<delegate* unmanaged<int, int, nint*, int, void>, void>)register)(&OnDescriptorCreated);
        Tracking = true;
        return true;
    }

    /// <summary>Sets LD_PRELOAD (keeping what is there) and the variable for a process to be started.</summary>
    public static void ConfigurePreload(IDictionary<string, string?> environment, string directory)
    {
        string library = Path.Combine(directory, LibraryName);
        environment.TryGetValue("LD_PRELOAD", out string? preload);
        environment["LD_PRELOAD"] = string.IsNullOrEmpty(preload) ? library : $"{library}:{preload}";
        environment[EnvironmentVariable] = "true";
    }

    public static FdOrigin? Find(FdEntry entry)
    {
        // A record is for the descriptor that had this number when it was made: the inode tells
        // whether the number has since been closed and reused by an open the tracker did not see.
        if (!Records.TryGetValue(entry.Fd, out Recorded? recorded) || recorded.Inode != entry.Inode)
        {
            return null;
        }

        return new FdOrigin(recorded.Thread, recorded.Time, recorded.ManagedStack, recorded.NativeStack.Select(Symbolize).ToArray());
    }

    [UnmanagedCallersOnly]
    private static void OnDescriptorCreated(int fd, int kind, nint* frames, int frameCount)
    {
        try
        {
            var native = new nint[frameCount];
            for (int i = 0; i < frameCount; i++)
            {
                native[i] = frames[i];
            }

            // Method names only: line numbers would make the runtime open PDB files here.
            IReadOnlyList<string> managed = ExceptionNode.ParseStackTrace(new StackTrace(1, fNeedFileInfo: false).ToString());
            Thread thread = Thread.CurrentThread;
            Records[fd] = new Recorded(
                Libc.TryGetInode(fd, out ulong inode) ? inode : 0,
                thread.Name is { Length: > 0 } name ? $"\"{name}\"" : $"thread {Environment.CurrentManagedThreadId}",
                DateTimeOffset.UtcNow,
                managed,
                native);
        }
        catch (Exception)
        {
            // Never let a failure here reach the native caller, which is in the middle of an open.
        }
    }

    private static string Symbolize(nint address)
    {
        if (Libc.dladdr(address, out Libc.DlInfo info) != 0 && info.FileName != 0)
        {
            string library = Path.GetFileName(Marshal.PtrToStringUTF8(info.FileName) ?? "?");
            return info.SymbolName != 0
                ? $"{Marshal.PtrToStringUTF8(info.SymbolName)}+0x{address - info.SymbolAddress:x} ({library})"
                : $"0x{address - info.Base:x} ({library})";
        }

        return $"0x{address:x} (managed code)";
    }

    private sealed record Recorded(ulong Inode, string Thread, DateTimeOffset Time, IReadOnlyList<string> ManagedStack, nint[] NativeStack);
}
