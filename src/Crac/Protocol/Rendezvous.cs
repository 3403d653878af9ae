using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Crac.Interop;

namespace Crac.Protocol;

/// <summary>
/// Where the tool and a process meet when the diagnostics channel cannot be used: a process
/// ready for its dump must have no session open (CRIU refuses one), and a process CRIU has just
/// restored should not wait for a session to reach it. It is a private directory,
/// <c>$TMPDIR/dotnet-crac-&lt;pid&gt;</c>, owned by the process's user, mode 0700, in which each
/// side writes small JSON files atomically and polls for the other's. Either side refuses a
/// directory or file another user could have written, and the channel then carries on alone.
/// </summary>
internal sealed class Rendezvous
{
    /// <summary>The process is parked: waiting for the tool's dump (with its instructions) or paused (<see cref="OutcomeReply"/>).</summary>
    public const string Parked = "parked.json";

    /// <summary>The tool wakes a parked process: kept running, or the dump failed (<see cref="ResumeRequest"/>).</summary>
    public const string Resume = "resume.json";

    /// <summary>The restorer's environment and arguments, written before CRIU restores the process (<see cref="ResumeRequest"/>).</summary>
    public const string Restore = "restore.json";

    /// <summary>How the checkpoint, or the restore's after-restore, ended (<see cref="OutcomeReply"/>).</summary>
    public const string Report = "report.json";

    private static readonly string[] Files = [Parked, Resume, Restore, Report];

    /// <summary>
    /// How long a poll of the rendezvous (a few stats, and a look whether the other side is alive)
    /// sleeps: 1 ms for a second, where a restore's report and a restored process's hand-over are
    /// waited for on the path to its first response; 5 ms after, where a wait can last minutes.
    /// </summary>
    internal static TimeSpan PollDelay(TimeSpan waited) => TimeSpan.FromMilliseconds(waited < TimeSpan.FromSeconds(1) ? 1 : 5);

    private Rendezvous(string directory, uint owner)
    {
        Directory = directory;
        Owner = owner;
    }

    public string Directory { get; }

    /// <summary>The uid that owns the directory: the process's.</summary>
    public uint Owner { get; }

    /// <summary>The directory for process <paramref name="pid"/> in its temp directory (its TMPDIR, else /tmp).</summary>
    public static string PathFor(int pid, string temporaryDirectory) =>
        System.IO.Path.Combine(temporaryDirectory, $"dotnet-crac-{pid.ToString(CultureInfo.InvariantCulture)}");

    /// <summary>
    /// The tool's side: creates (or takes over) the directory for a process of user <paramref name="owner"/>,
    /// empty of any earlier exchange. Null, with the reason, when it cannot be made private to that user.
    /// </summary>
    public static Rendezvous? Prepare(string directory, uint owner, out string? reason)
    {
        reason = null;
        if (!Libc.TryGetOwnerAndMode(directory, out _, out _))
        {
            try
            {
                System.IO.Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
            catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
            {
                reason = $"cannot create {directory}: {exception.Message}";
                return null;
            }

            if (owner != Libc.geteuid() && Libc.chown(directory, owner, uint.MaxValue) != 0)
            {
                reason = $"cannot give {directory} to uid {owner}: {Libc.LastErrorMessage()}";
                return null;
            }
        }

        if (Validate(directory, owner) is { } problem)
        {
            reason = problem;
            return null;
        }

        var rendezvous = new Rendezvous(directory, owner);
        foreach (string file in Files)
        {
            rendezvous.Delete(file);
        }

        return rendezvous;
    }

    /// <summary>The process's side: the directory, if it is its own and private; else null (the channel carries on alone).</summary>
    public static Rendezvous? Open(string directory) =>
        Validate(directory, Libc.geteuid()) is null ? new Rendezvous(directory, Libc.geteuid()) : null;

    /// <summary>Writes a file atomically (a private temporary, owned by the process's user, renamed into place).</summary>
    public unsafe void Write<T>(string name, T value, JsonTypeInfo<T> typeInfo)
    {
        string path = System.IO.Path.Combine(Directory, name);
        string temporary = $"{path}.{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}.tmp";
        File.Delete(temporary);
        byte[] bytes = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(value, typeInfo));
        int fd = Libc.open(temporary, Libc.O_WRONLY | Libc.O_CREAT | Libc.O_EXCL | Libc.O_NOFOLLOW | Libc.O_CLOEXEC, 0b110_000_000);
        if (fd < 0)
        {
            throw new IOException($"Cannot write {temporary}: {Libc.LastErrorMessage()}");
        }

        try
        {
            fixed (byte* buffer = bytes)
            {
                if (Libc.write(fd, buffer, (nuint)bytes.Length) != bytes.Length)
                {
                    throw new IOException($"Cannot write {temporary}: {Libc.LastErrorMessage()}");
                }
            }

            if (Owner != Libc.geteuid() && Libc.fchown(fd, Owner, uint.MaxValue) != 0)
            {
                throw new IOException($"Cannot give {temporary} to uid {Owner}: {Libc.LastErrorMessage()}");
            }
        }
        finally
        {
            Libc.close(fd);
        }

        if (Libc.rename(temporary, path) != 0)
        {
            throw new IOException($"Cannot move {temporary} to {path}: {Libc.LastErrorMessage()}");
        }
    }

    /// <summary>Reads a file the other side wrote, if it is there and could only have come from it (the owner, or root).</summary>
    /// <exception cref="JsonException">The file is not what it should hold.</exception>
    public T? TryRead<T>(string name, JsonTypeInfo<T> typeInfo, bool consume)
        where T : class
    {
        string path = System.IO.Path.Combine(Directory, name);
        if (!Libc.TryGetOwnerAndMode(path, out uint owner, out uint mode)
            || (mode & Libc.S_IFMT) != Libc.S_IFREG
            || (owner != Owner && owner != 0))
        {
            return null;
        }

        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        if (consume)
        {
            Delete(name);
        }

        return JsonSerializer.Deserialize(text, typeInfo);
    }

    /// <summary>Waits until one of the files appears, or <paramref name="giveUp"/> says to stop; returns its name, or null.</summary>
    public async Task<string?> WaitForAsync(IReadOnlyList<string> names, TimeSpan timeout, Func<bool> giveUp, CancellationToken cancellationToken)
    {
        var waited = Stopwatch.StartNew();
        while (timeout == Timeout.InfiniteTimeSpan || waited.Elapsed < timeout)
        {
            foreach (string name in names)
            {
                if (File.Exists(System.IO.Path.Combine(Directory, name)))
                {
                    return name;
                }
            }

            if (giveUp())
            {
                return null;
            }

            await Task.Delay(PollDelay(waited.Elapsed), cancellationToken).ConfigureAwait(false);
        }

        return null;
    }

    public void Delete(string name)
    {
        try
        {
            File.Delete(System.IO.Path.Combine(Directory, name));
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            // Another side's file we may not remove: the next Prepare deals with it.
        }
    }

    /// <summary>Removes the directory and what is left in it.</summary>
    public void Remove()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
        }
    }

    private static string? Validate(string directory, uint owner)
    {
        if (!Libc.TryGetOwnerAndMode(directory, out uint actualOwner, out uint mode))
        {
            return $"{directory} does not exist";
        }

        if ((mode & Libc.S_IFMT) != Libc.S_IFDIR)
        {
            return $"{directory} is not a directory (a symbolic link?)";
        }

        if (actualOwner != owner)
        {
            return $"{directory} belongs to uid {actualOwner}, not to the process's uid {owner}";
        }

        return (mode & 0b000_111_111) != 0 ? $"{directory} is open to other users (mode {Convert.ToString(mode & 0x1FF, 8)})" : null;
    }
}
