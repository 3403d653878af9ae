using System.Globalization;

namespace Crac.Interop;

/// <summary>The fields of <c>/proc/PID/stat</c> that dotnet-crac reads.</summary>
internal sealed record ProcStat(char State, int Session, long UserTicks, long SystemTicks)
{
    /// <summary>A zombie, or a process being torn down: gone but for its entry.</summary>
    public bool IsDead => State is 'Z' or 'X';

    /// <summary>The process's stat, or null when it is gone or cannot be read.</summary>
    public static ProcStat? Read(int pid)
    {
        try
        {
            // "pid (comm) state ppid pgrp session ..."; comm may hold spaces and parentheses, so
            // the fields are counted from the last ')': state is field 3 of stat(5), hence index 0.
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return new ProcStat(
                fields[0][0],
                int.Parse(fields[3], CultureInfo.InvariantCulture),
                long.Parse(fields[11], CultureInfo.InvariantCulture),
                long.Parse(fields[12], CultureInfo.InvariantCulture));
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException or ArgumentOutOfRangeException)
        {
            return null;
        }
    }
}
