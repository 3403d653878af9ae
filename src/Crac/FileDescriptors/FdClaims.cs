namespace Crac.FileDescriptors;

/// <summary>
/// Descriptors a resource closes by itself before every checkpoint (a connection pool's sockets).
/// A checkpoint judges what is left after the resources ran, so these are gone by then; `status`
/// and `fds` judge without running them, and count a claimed descriptor as handled, as a dry run
/// would find it. At the checkpoint itself a claim counts for nothing: still open, it blocks.
/// </summary>
internal static class FdClaims
{
    private static readonly Lock Sync = new();
    private static readonly List<Claim> Registered = [];

    /// <summary>Claims every descriptor <paramref name="covers"/> accepts for <paramref name="owner"/>, until disposed.</summary>
    public static IDisposable Register(string owner, Func<FdEntry, bool> covers)
    {
        var claim = new Claim(owner, covers);
        lock (Sync)
        {
            Registered.Add(claim);
        }

        return claim;
    }

    /// <summary>The resource that will close the descriptor before a checkpoint, or null.</summary>
    public static string? OwnerOf(FdEntry entry)
    {
        Claim[] claims;
        lock (Sync)
        {
            claims = [.. Registered];
        }

        foreach (Claim claim in claims)
        {
            try
            {
                if (claim.Covers(entry))
                {
                    return claim.Owner;
                }
            }
            catch (Exception)
            {
                // A claim that fails to answer claims nothing.
            }
        }

        return null;
    }

    private sealed class Claim(string owner, Func<FdEntry, bool> covers) : IDisposable
    {
        public string Owner { get; } = owner;

        public bool Covers(FdEntry entry) => covers(entry);

        public void Dispose()
        {
            lock (Sync)
            {
                Registered.Remove(this);
            }
        }
    }
}
