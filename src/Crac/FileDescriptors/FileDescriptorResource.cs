using Crac.Coordination;
using Crac.Interop;

namespace Crac.FileDescriptors;

/// <summary>
/// The runtime resource that runs last before a checkpoint: it applies the resource policies
/// (closing or parking descriptors) and fails the checkpoint, with one exception per
/// descriptor, for every descriptor the application left open. After the restore it reopens
/// what the policies asked to reopen, at the same number and position.
/// </summary>
internal sealed class FileDescriptorResource : IResource
{
    private readonly List<ParkedDescriptor> _parked = [];

    public static FileDescriptorResource Instance { get; } = new();

    /// <summary>Registers the resource in the file-descriptor tier of the global context (once).</summary>
    public static void Install() => Coordinator.Global.FileDescriptors.Register(Instance);

    public Task BeforeCheckpointAsync(Context context, CancellationToken cancellationToken)
    {
        ResourcePolicies? policies;
        try
        {
            policies = ResourcePolicies.Load();
        }
        catch (PolicyFileException exception)
        {
            // A malformed policy file fails the checkpoint; it must never take the app down.
            throw new CheckpointException(exception.Message);
        }

        IReadOnlyList<FdAssessment> assessments = FdChecks.AssessSettled(policies);
        var failures = Aggregates.Checkpoint();
        foreach (FdAssessment assessment in assessments.Where(a => a.Blocking))
        {
            failures.AddSuppressed(FdChecks.ToException(assessment));
        }

        CheckpointScope? scope = CheckpointScope.Current;
        bool commit = failures.Suppressed.Count == 0 && scope is not { Failing: true } && scope is not { DryRun: true };
        foreach (FdAssessment assessment in assessments.Where(a => a.Rule is { Action: not PolicyAction.Error }))
        {
            PolicyRule rule = assessment.Rule!;
            if (rule.Warn)
            {
                Console.Error.WriteLine($"crac: warning: fd {assessment.Entry.Fd} ({assessment.Entry.Target}) is open at checkpoint; {rule.Describe()}.");
            }

            // Close nothing while the checkpoint is failing anyway: there would be nothing to restore.
            if (commit && rule.Action is PolicyAction.Close or PolicyAction.Reopen)
            {
                _parked.Add(ParkedDescriptor.Park(assessment.Entry, rule.Action));
            }
        }

        if (failures.Suppressed.Count > 0)
        {
            throw failures;
        }

        return Task.CompletedTask;
    }

    public Task AfterRestoreAsync(Context context, CancellationToken cancellationToken)
    {
        // After a real restore, only 'reopen' reopens, and the policy file is read again (the
        // restored process may have been given another one). After a failed or kept-running
        // checkpoint everything parked is put back as it was.
        bool restored = CheckpointScope.Current is { Restored: true };
        if (restored)
        {
            FdClassifier.RefreshInheritedDescriptors();
        }

        if (_parked.Count == 0)
        {
            return Task.CompletedTask;
        }

        ResourcePolicies? policies = null;
        var failures = Aggregates.Restore();
        if (restored)
        {
            try
            {
                policies = ResourcePolicies.Load();
            }
            catch (PolicyFileException exception)
            {
                failures.AddSuppressed(new InvalidOperationException(exception.Message));
            }
        }

        foreach (ParkedDescriptor parked in _parked)
        {
            try
            {
                PolicyAction action = !restored ? PolicyAction.Reopen
                    : policies?.Match(parked.Entry)?.Action ?? parked.Action;
                parked.Unpark(reopen: action == PolicyAction.Reopen);
            }
            catch (IOException exception)
            {
                failures.AddSuppressed(exception);
            }
        }

        _parked.Clear();
        if (failures.Suppressed.Count > 0)
        {
            throw failures;
        }

        return Task.CompletedTask;
    }

    public override string ToString() => "file descriptors";
}

/// <summary>
/// A descriptor closed by policy. Its number stays occupied by /dev/null until after-restore, so
/// the owning object (a FileStream, a Socket) does not break and the number is not reused.
/// </summary>
internal sealed class ParkedDescriptor
{
    private ParkedDescriptor(FdEntry entry, PolicyAction action)
    {
        Entry = entry;
        Action = action;
    }

    public FdEntry Entry { get; }

    public PolicyAction Action { get; }

    public static ParkedDescriptor Park(FdEntry entry, PolicyAction action)
    {
        ReplaceWith(entry.Fd, "/dev/null", Libc.O_RDWR);
        return new ParkedDescriptor(entry, action);
    }

    /// <summary>Reopens the file at its path and position onto the same number, or marks it closed.</summary>
    public void Unpark(bool reopen)
    {
        if (!reopen || Entry.Path is null)
        {
            // Closed for good: an O_PATH descriptor keeps the number taken and makes every read
            // and write fail with EBADF, so a late use is an error rather than silent data loss.
            ReplaceWith(Entry.Fd, "/", 0x200000 /* O_PATH */);
            return;
        }

        int flags = Entry.Flags & ~(Libc.O_CREAT | 0x200 /* O_TRUNC */ | 0x80 /* O_EXCL */);
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

            if (Entry.Lock != FdLock.None)
            {
                // A .NET FileStream locks its file (flock): take the same lock again.
                Libc.flock(fd, (Entry.Lock == FdLock.Exclusive ? Libc.LOCK_EX : Libc.LOCK_SH) | Libc.LOCK_NB);
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
