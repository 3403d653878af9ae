namespace Crac.Interop;

/// <summary>Finds a program the way execvp(3) would, through PATH (and any extra directories given).</summary>
internal static class ExecutableSearch
{
    public static string? Find(string name, params string[] extraDirectories) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Concat(extraDirectories)
            .Select(directory => Path.Combine(directory, name))
            .FirstOrDefault(File.Exists);
}
