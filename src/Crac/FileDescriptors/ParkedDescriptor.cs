using Crac.Interop;

namespace Crac.FileDescriptors;

/// <summary>
/// A descriptor closed by policy. Its number stays occupied by /dev/null until after-restore, so
/// the owning object (a FileStream, a Socket) does not break and the number is not reused.
/// </summary>
internal sealed class ParkedDescriptor
{
    // A private duplicate of the placeholder: at unpark it tells whether the number still holds
    // our placeholder, or whether its owner closed it meanwhile (and the number may be another file's now).
    private readonly int _witness;

    private ParkedDescriptor(FdEntry entry, PolicyAction action, int witness)
    {
        Entry = entry;
        Action = action;
        _witness = witness;
    }

    public FdEntry Entry { get; }

    public PolicyAction Action { get; }

    public static ParkedDescriptor Park(FdEntry entry, PolicyAction action)
    {
        ReplaceWith(entry.Fd, "/dev/null", Libc.O_RDWR);
        return new ParkedDescriptor(entry, action, Libc.fcntl(entry.Fd, Libc.F_DUPFD_CLOEXEC, 3));
    }

    /// <summary>Reopens the file at its path and position onto the same number, or marks it closed.</summary>
    public void Unpark(bool reopen)
    {
        try
        {
            if (_witness < 0 || Libc.SameOpenFile(Entry.Fd, _witness) == true)
            {
                UnparkOwned(reopen);
            }
        }
        finally
        {
            if (_witness >= 0)
            {
                Libc.close(_witness);
            }
        }
    }

    private void UnparkOwned(bool reopen)
    {
        if (!reopen || Entry.Path is null)
        {
            // Closed for good: an O_PATH descriptor keeps the number taken and makes every read
            // and write fail with EBADF, so a late use is an error rather than silent data loss.
            ReplaceWith(Entry.Fd, "/", Libc.O_PATH);
            return;
        }

        int flags = Entry.Flags & ~(Libc.O_CREAT | Libc.O_TRUNC | Libc.O_EXCL);
        if ((flags & Libc.O_ACCMODE) == Libc.O_WRONLY)
        {
            // A write-only file is a log or an output: its writer (a FileStream writes with
            // pwrite at a position it counts itself) kept counting while the descriptor was
            // parked, so writing at that position would leave a hole of zeros. Append instead.
            flags |= Libc.O_APPEND;
        }

        int fd = Libc.open(Entry.Path, flags, 0);
        if (fd < 0)
        {
            throw new IOException($"Cannot reopen fd {Entry.Fd} ({Entry.Path}) after restore: {Libc.LastErrorMessage()}. Its owner will fail on its next use.");
        }

        try
        {
            if ((Entry.Flags & Libc.O_APPEND) == 0 && Libc.lseek(fd, Entry.Position, Libc.SEEK_SET) < 0)
            {
                throw new IOException($"Cannot seek reopened fd {Entry.Fd} ({Entry.Path}) to {Entry.Position}: {Libc.LastErrorMessage()}.");
            }

            if (Entry.Locks.FirstOrDefault(l => l.Kind == FileLockKind.Flock) is { } flock)
            {
                // A .NET FileStream locks its file (flock): take the same lock again.
                Libc.flock(fd, (flock.Exclusive ? Libc.LOCK_EX : Libc.LOCK_SH) | Libc.LOCK_NB);
            }

            if (Libc.dup3(fd, Entry.Fd, Entry.CloseOnExec ? Libc.O_CLOEXEC : 0) < 0)
            {
                throw new IOException($"Cannot put reopened {Entry.Path} back on fd {Entry.Fd}: {Libc.LastErrorMessage()}.");
            }
        }
        finally
        {
            Libc.close(fd);
        }
    }

    private static void ReplaceWith(int targetFd, string path, int flags)
    {
        int placeholder = Libc.open(path, flags | Libc.O_CLOEXEC, 0);
        if (placeholder < 0)
        {
            throw new IOException($"Cannot open {path} to close fd {targetFd}: {Libc.LastErrorMessage()}.");
        }

        try
        {
            if (Libc.dup3(placeholder, targetFd, Libc.O_CLOEXEC) < 0)
            {
                throw new IOException($"Cannot close fd {targetFd}: {Libc.LastErrorMessage()}.");
            }
        }
        finally
        {
            Libc.close(placeholder);
        }
    }
}
