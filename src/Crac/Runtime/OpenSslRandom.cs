using System.Runtime.InteropServices;

namespace Crac.Runtime;

/// <summary>
/// RandomNumberGenerator on Linux is OpenSSL's RAND_bytes, whose DRBGs keep their state in the
/// process's memory and reseed only every 2^16 calls or hours later: two processes restored from
/// one image return the same "cryptographically secure" bytes (measured: identical output across
/// two restores). RAND_poll reseeds OpenSSL's primary DRBG from the OS, and every thread's DRBG
/// reseeds from it on its next use, because its parent's reseed counter moved.
/// </summary>
internal static unsafe partial class OpenSslRandom
{
    // The libcrypto sonames .NET's OpenSSL shim loads, newest first.
    private static readonly string[] Sonames = ["libcrypto.so.3", "libcrypto.so.1.1", "libcrypto.so.10", "libcrypto.so"];

    private const int RTLD_LAZY = 1;
    private const int RTLD_NOLOAD = 4;

    /// <summary>The libcrypto this process has loaded, or null: a process that never used OpenSSL has no DRBG to reseed.</summary>
    public static string? LoadedLibcrypto()
    {
        string? name = Loaded(out nint handle);
        Release(handle);
        return name;
    }

    // RTLD_NOLOAD asks the loader, without loading anything, instead of reading /proc/self/maps
    // (hundreds of lines in a .NET process, on the restore's critical path).
    private static string? Loaded(out nint handle)
    {
        foreach (string soname in Sonames)
        {
            handle = dlopen(soname, RTLD_LAZY | RTLD_NOLOAD);
            if (handle != 0)
            {
                return soname;
            }
        }

        handle = 0;
        return null;
    }

    private static void Release(nint handle)
    {
        if (handle != 0)
        {
            dlclose(handle);
        }
    }

    /// <summary>Reseeds OpenSSL's DRBGs if OpenSSL is loaded; returns what was done, for the report.</summary>
    public static (bool Reseeded, string Detail) Reseed()
    {
        string? library = Loaded(out nint handle);
        if (library is null)
        {
            return (false, "OpenSSL is not loaded (RandomNumberGenerator not used yet): its generator will be seeded from the OS when first used");
        }

        int result;
        try
        {
            // The handle of the library already mapped: this is the DRBG .NET uses.
            if (!NativeLibrary.TryGetExport(handle, "RAND_poll", out nint poll))
            {
                return (false, $"{library} has no RAND_poll: its DRBG was not reseeded, so RandomNumberGenerator may repeat the bytes of other restores of this image");
            }

            result = ((delegate* unmanaged<int>)poll)();
        }
        finally
        {
            Release(handle);
        }

        return result == 1
            ? (true, $"OpenSSL's DRBG ({Path.GetFileName(library)}) reseeded from the OS (RAND_poll); each thread's DRBG reseeds on its next use")
            : (false, $"RAND_poll in {library} failed ({result}): RandomNumberGenerator may repeat the bytes of other restores of this image");
    }

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint dlopen(string file, int mode);

    [LibraryImport("libc")]
    private static partial int dlclose(nint handle);
}
