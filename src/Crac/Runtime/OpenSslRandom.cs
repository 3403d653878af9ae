using System.Runtime.InteropServices;

namespace Crac.Runtime;

/// <summary>
/// RandomNumberGenerator on Linux is OpenSSL's RAND_bytes, whose DRBGs keep their state in the
/// process's memory and reseed only every 2^16 calls or hours later: two processes restored from
/// one image return the same "cryptographically secure" bytes (measured: identical output across
/// two restores). RAND_poll reseeds OpenSSL's primary DRBG from the OS, and every thread's DRBG
/// reseeds from it on its next use, because its parent's reseed counter moved.
/// </summary>
internal static unsafe class OpenSslRandom
{
    /// <summary>The libcrypto this process has loaded, or null: a process that never used OpenSSL has no DRBG to reseed.</summary>
    public static string? LoadedLibcrypto()
    {
        try
        {
            foreach (string line in File.ReadLines("/proc/self/maps"))
            {
                int slash = line.IndexOf('/');
                if (slash >= 0 && Path.GetFileName(line.AsSpan(slash)).StartsWith("libcrypto.so", StringComparison.Ordinal))
                {
                    return line[slash..];
                }
            }
        }
        catch (IOException)
        {
        }

        return null;
    }

    /// <summary>Reseeds OpenSSL's DRBGs if OpenSSL is loaded; returns what was done, for the report.</summary>
    public static (bool Reseeded, string Detail) Reseed()
    {
        string? library = LoadedLibcrypto();
        if (library is null)
        {
            return (false, "OpenSSL is not loaded (RandomNumberGenerator not used yet): its generator will be seeded from the OS when first used");
        }

        // Loading a library already mapped returns the same handle: this is the DRBG .NET uses.
        if (!NativeLibrary.TryLoad(library, out nint handle) || !NativeLibrary.TryGetExport(handle, "RAND_poll", out nint poll))
        {
            return (false, $"{library} has no RAND_poll: its DRBG was not reseeded, so RandomNumberGenerator may repeat the bytes of other restores of this image");
        }

        int result = ((delegate* unmanaged<int>)poll)();
        return result == 1
            ? (true, $"OpenSSL's DRBG ({Path.GetFileName(library)}) reseeded from the OS (RAND_poll); each thread's DRBG reseeds on its next use")
            : (false, $"RAND_poll in {library} failed ({result}): RandomNumberGenerator may repeat the bytes of other restores of this image");
    }
}
