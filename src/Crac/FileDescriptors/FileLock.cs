using System.Text.Json.Serialization;
using Crac.Diagnostics;

namespace Crac.FileDescriptors;

/// <summary>The kind of a file lock, as fdinfo names it.</summary>
[JsonConverter(typeof(KebabCaseEnumConverter<FileLockKind>))]
internal enum FileLockKind
{
    /// <summary>flock(2): what a .NET FileStream takes.</summary>
    Flock,

    /// <summary>fcntl(2) F_SETLK: held by the process (SQLite's).</summary>
    Posix,

    /// <summary>fcntl(2) F_OFD_SETLK: held by the open file description.</summary>
    Ofd,

    /// <summary>A lease or delegation.</summary>
    Lease,
}

/// <summary>One lock held through a descriptor, from a <c>lock:</c> line of its fdinfo.</summary>
internal sealed record FileLock(FileLockKind Kind, bool Exclusive)
{
    /// <summary>Parses e.g. <c>1: FLOCK  ADVISORY  WRITE 1234 00:2a:5678 0 EOF</c>.</summary>
    public static FileLock Parse(string line)
    {
        string[] fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        FileLockKind kind = fields.Length > 1 ? fields[1] switch
        {
            "FLOCK" => FileLockKind.Flock,
            "POSIX" => FileLockKind.Posix,
            "OFDLCK" => FileLockKind.Ofd,
            _ => FileLockKind.Lease,
        } : FileLockKind.Lease;
        return new FileLock(kind, Exclusive: fields.Length <= 3 || fields[3] != "READ");
    }

    public override string ToString() => $"{(Exclusive ? "an exclusive" : "a shared")} {Kind switch
    {
        FileLockKind.Flock => "flock",
        FileLockKind.Posix => "POSIX lock",
        FileLockKind.Ofd => "OFD lock",
        FileLockKind.Lease => "lease",
    }}";
}
