using System.Diagnostics;
using System.Globalization;

namespace Crac.EndToEnd.Tests.Infrastructure;

/// <summary>
/// An application started as a user starts one they never changed: <c>dotnet crac run -- dotnet
/// app.dll args</c>, with its output in a file. After a restore, the restored process writes to the
/// restorer's output, which <see cref="RestoreAsync"/> appends to the same file.
/// </summary>
internal sealed class CracRun : IDisposable
{
    private readonly Process _run;

    private CracRun(Process run, string directory, int pid)
    {
        _run = run;
        Directory = directory;
        Pid = pid;
    }

    /// <summary>The application's pid, as the host sees it: a restore into a new pid namespace gives it another.</summary>
    public int Pid { get; private set; }

    /// <summary>A private scratch directory: the output, and room for images.</summary>
    public string Directory { get; }

    public string OutputFile => Path.Combine(Directory, "output.log");

    public string Output => ProcessRunner.ReadShared(OutputFile);

    public bool IsAlive => ProcessRunner.IsAlive(Pid);

    /// <summary>Starts the application under <c>dotnet crac run</c> and waits until its output shows <paramref name="readyMarker"/>.</summary>
    public static async Task<CracRun> StartAsync(string assembly, IEnumerable<string> arguments, string readyMarker, IDictionary<string, string?>? environment = null)
    {
        string directory = System.IO.Directory.CreateTempSubdirectory("crac-run-").FullName;
        string output = Path.Combine(directory, "output.log");
        Process run = ProcessRunner.Start("dotnet", [Paths.Tool, "run", "--", "dotnet", assembly, .. arguments], output, null, environment, ownSession: true);
        int pid = 0;
        try
        {
            // Once the app is ready, run has named it (a pid namespace of its own) or it is run's child, no longer a fork on its way to exec.
            await ProcessRunner.WaitUntilAsync(
                () => ProcessRunner.ReadShared(output).Contains(readyMarker, StringComparison.Ordinal) || run.HasExited, TimeSpan.FromSeconds(60), $"'{readyMarker}' from {Path.GetFileName(assembly)}");
            await ProcessRunner.WaitUntilAsync(() => (pid = AppOf(run.Id, output)) > 0 || run.HasExited, TimeSpan.FromSeconds(30), $"dotnet crac run to start {Path.GetFileName(assembly)}");
            if (run.HasExited)
            {
                throw new InvalidOperationException($"dotnet crac run -- dotnet {assembly} exited with {run.ExitCode}:\n{ProcessRunner.ReadShared(output)}");
            }
        }
        catch
        {
            run.Kill(entireProcessTree: true);
            run.Dispose();
            throw;
        }

        return new CracRun(run, directory, pid);
    }

    public Task WaitForOutputAsync(string text, TimeSpan? timeout = null, int count = 1) =>
        ProcessRunner.WaitUntilAsync(() => Occurrences(Output, text) >= count, timeout ?? TimeSpan.FromSeconds(20), $"{count} x '{text}' in the output of {Pid}:\n{Output}");

    public static int Occurrences(string text, string value)
    {
        int count = 0;
        for (int at = text.IndexOf(value, StringComparison.Ordinal); at >= 0; at = text.IndexOf(value, at + value.Length, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }

    /// <summary>Checkpoints the application with the CRIU engine and nothing but an image directory: the defaults.</summary>
    public Task<ToolResult> CheckpointAsync(string image) =>
        ToolRun.RunAsync("checkpoint", Pid.ToString(CultureInfo.InvariantCulture), "--engine", "criu", "--image-dir", image);

    /// <summary>Waits until the checkpointed original is gone (its zombie reaped by dotnet crac run, which then ends too).</summary>
    public Task WaitForImagedAsync() =>
        ProcessRunner.WaitUntilAsync(() => !System.IO.Directory.Exists($"/proc/{Pid}"), TimeSpan.FromSeconds(20), $"the checkpointed process {Pid} to be gone");

    /// <summary>
    /// Runs <c>dotnet crac restore</c> with its output (and so the restored application's) appended
    /// to <see cref="OutputFile"/>; returns the tool's result, its output being what it appended.
    /// </summary>
    public async Task<ToolResult> RestoreAsync(string image, TimeSpan? timeout = null)
    {
        long before = new FileInfo(OutputFile).Length;
        string stderr = Path.Combine(Directory, $"restore-{Environment.TickCount64}.err");
        var stopwatch = Stopwatch.StartNew();
        using Process restore = ProcessRunner.Start("dotnet", [Paths.Tool, "restore", image], OutputFile, stderr, null);
        using var cancellation = new CancellationTokenSource(timeout ?? ToolRun.DefaultTimeout);
        try
        {
            await restore.WaitForExitAsync(cancellation.Token);
        }
        catch (OperationCanceledException)
        {
            restore.Kill(entireProcessTree: true);
            throw new TimeoutException($"dotnet crac restore {image} did not finish in time.\n{Output[(int)before..]}\n{ProcessRunner.ReadShared(stderr)}");
        }

        string output = Output[(int)Math.Min(before, Output.Length)..];
        if (System.Text.RegularExpressions.Regex.Match(output, @"Restored process (\d+) ") is { Success: true } restored)
        {
            Pid = int.Parse(restored.Groups[1].Value, CultureInfo.InvariantCulture);
        }

        return new ToolResult(restore.ExitCode, output, ProcessRunner.ReadShared(stderr), stopwatch.Elapsed);
    }

    /// <summary>
    /// The application that dotnet crac run started, or 0: the pid run names when the app is in a
    /// pid namespace of its own (run's child is unshare then), else run's child.
    /// </summary>
    private static int AppOf(int run, string output)
    {
        if (ProcessRunner.PidNamedByRun(ProcessRunner.ReadShared(output)) is > 0 and var named)
        {
            return named;
        }

        try
        {
            string children = File.ReadAllText($"/proc/{run}/task/{run}/children").Trim();
            int child = children.Length == 0 ? 0 : int.Parse(children.Split(' ')[0], CultureInfo.InvariantCulture);
            return child > 0 && File.ReadAllText($"/proc/{child}/comm").Trim() != "unshare" ? child : 0;
        }
        catch (IOException)
        {
            return 0;
        }
    }

    public void Dispose()
    {
        // After a restore the pid is no child of ours: signal it by number.
        if (ProcessRunner.IsAlive(Pid))
        {
            _ = Process.Start("kill", ["-9", Pid.ToString(CultureInfo.InvariantCulture)])?.WaitForExit(5000);
        }

        _run.Kill(entireProcessTree: true);
        _run.Dispose();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // An image written by root CRIU, or a restored process still writing: leave it in /tmp.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
