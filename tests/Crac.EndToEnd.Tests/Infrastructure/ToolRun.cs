using System.Diagnostics;

namespace Crac.EndToEnd.Tests.Infrastructure;

/// <summary>The result of running the real dotnet-crac binary.</summary>
internal sealed record ToolResult(int ExitCode, string Stdout, string Stderr, TimeSpan Elapsed)
{
    public string Output => Stdout + Stderr;

    public override string ToString() => $"exit {ExitCode} after {Elapsed.TotalMilliseconds:0} ms\n--- stdout\n{Stdout}--- stderr\n{Stderr}";
}

internal static class ToolRun
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(120);

    /// <summary>Runs <c>dotnet dotnet-crac.dll args</c> and waits for it (not for the output's end).</summary>
    public static async Task<ToolResult> RunAsync(IEnumerable<string> arguments, IDictionary<string, string?>? environment = null, TimeSpan? timeout = null)
    {
        string directory = Directory.CreateTempSubdirectory("crac-tool-").FullName;
        string stdout = Path.Combine(directory, "stdout");
        string stderr = Path.Combine(directory, "stderr");
        if (environment?.ContainsKey("CRAC_TEST_AS_USER") == true)
        {
            // The tool runs as another user, who must be able to write its output here.
            File.SetUnixFileMode(directory, (UnixFileMode)0b111_101_101);
            foreach (string file in new[] { stdout, stderr })
            {
                File.WriteAllText(file, string.Empty);
                File.SetUnixFileMode(file, (UnixFileMode)0b110_110_110);
            }
        }

        var stopwatch = Stopwatch.StartNew();
        using Process process = ProcessRunner.Start("dotnet", arguments.Prepend(Paths.Tool), stdout, stderr, environment);
        using var cancellation = new CancellationTokenSource(timeout ?? DefaultTimeout);
        try
        {
            await process.WaitForExitAsync(cancellation.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"dotnet-crac {string.Join(' ', arguments)} did not finish within {(timeout ?? DefaultTimeout).TotalSeconds} s.\n{ProcessRunner.ReadShared(stdout)}\n{ProcessRunner.ReadShared(stderr)}");
        }

        var result = new ToolResult(process.ExitCode, ProcessRunner.ReadShared(stdout), ProcessRunner.ReadShared(stderr), stopwatch.Elapsed);
        Directory.Delete(directory, recursive: true);
        return result;
    }

    public static Task<ToolResult> RunAsync(params string[] arguments) => RunAsync(arguments, null, null);
}
