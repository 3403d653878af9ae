using System.Diagnostics;
using System.Globalization;
using Crac.Interop;

namespace Crac.Engines.Criu;

/// <summary>
/// The dump, shared by both ways of running it: by the privileged dotnet-crac tool for a process
/// that waits for it, or by the process itself (Core.CheckpointRestore) through a detached CRIU.
/// </summary>
internal static class CriuDump
{
    private const string ExitFile = "criu-exit";
    private const string OutputFile = "criu-output.log";

    // The tool hangs up its own sessions at once; another client's stopped session closes in about 100 ms (the runtime's flush).
    private static readonly TimeSpan SessionCloseWait = TimeSpan.FromSeconds(3);

    /// <summary>Makes the image directory and writes the image's metadata, before CRIU runs.</summary>
    public static void Prepare(CriuBinary criu, string directory, ImageMetadata metadata, CriuSettings settings)
    {
        ImageDirectory.Prepare(directory);
        (metadata with { CriuVersion = criu.Version.ToString(), Criu = settings }).Write(directory);
    }

    /// <summary>CRIU cannot dump a process with a connected diagnostics client ("External socket is used"): waits, bounded, until none is.</summary>
    public static void WaitForDiagnosticsClientsToLeave(int pid) => DiagnosticsSocket.WaitForSessionsToClose(pid, SessionCloseWait);

    /// <summary>
    /// Dumps another process, as the tool does: CRIU is a child, and this waits for it. The caller
    /// has waited for diagnostics clients to leave (<see cref="WaitForDiagnosticsClientsToLeave"/>).
    /// </summary>
    /// <returns>Null on success, else CRIU's errors with the fix.</returns>
    public static string? RunExternal(CriuBinary criu, int pid, DumpInstructions instructions)
    {
        using var pages = PagesFollower.Start(instructions.ImageDirectory);
        string output = CriuBinary.Run(criu.Path, instructions.DumpArguments(pid), instructions.DumpTimeout, out int exitCode);
        ImageDirectory.MakeFilesPrivate(instructions.ImageDirectory);
        if (exitCode == 0)
        {
            ImageManifest.Write(instructions.ImageDirectory, pages);
            return null;
        }

        return CriuLog.Summarize("dump", exitCode, Path.Combine(instructions.ImageDirectory, CriuCommandLine.DumpLog), output);
    }

    /// <summary>
    /// Starts CRIU on this very process. CRIU cannot dump its own parent's tree with itself in it,
    /// so it runs under <c>setsid -f</c>, reparented away from us; a fixed sh snippet records its
    /// output and exit code in the image directory (paths reach it as arguments, never as text).
    /// </summary>
    public static void LaunchSelfDump(CriuBinary criu, string directory, CriuSettings settings, bool keepRunning)
    {
        File.Delete(Path.Combine(directory, ExitFile));
        var start = new ProcessStartInfo("setsid") { UseShellExecute = false };
        foreach (string argument in (string[])["-f", "/bin/sh", "-c",
                     "umask 077; exec </dev/null >\"$CRAC_CRIU_OUTPUT\" 2>&1; \"$@\"; echo \"$?\" >\"$CRAC_CRIU_EXIT\"",
                     "crac-criu", criu.Path])
        {
            start.ArgumentList.Add(argument);
        }

        foreach (string argument in CriuCommandLine.Dump(Environment.ProcessId, directory, settings, keepRunning))
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["CRAC_CRIU_OUTPUT"] = Path.Combine(directory, OutputFile);
        start.Environment["CRAC_CRIU_EXIT"] = Path.Combine(directory, ExitFile);
        using Process launcher = Process.Start(start) ?? throw new CriuException("Could not start setsid to run CRIU.");
        launcher.WaitForExit();
        if (launcher.ExitCode != 0)
        {
            throw new CriuException($"setsid -f failed with exit code {launcher.ExitCode}; CRIU was not started.");
        }
    }

    /// <summary>CRIU's exit code once the self-dump has ended, else null. The file is written after CRIU exits.</summary>
    public static int? SelfDumpExitCode(string directory)
    {
        string path = Path.Combine(directory, ExitFile);
        try
        {
            string text = File.ReadAllText(path).Trim();
            return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int code) ? code : null;
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    public static string SelfDumpFailure(string directory, int exitCode)
    {
        string outputPath = Path.Combine(directory, OutputFile);
        string output = File.Exists(outputPath) ? File.ReadAllText(outputPath) : string.Empty;
        return CriuLog.Summarize("dump", exitCode, Path.Combine(directory, CriuCommandLine.DumpLog), output);
    }
}
