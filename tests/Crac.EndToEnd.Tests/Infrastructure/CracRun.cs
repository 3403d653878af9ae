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

    /// <summary>The application's pid (the child of <c>dotnet crac run</c>).</summary>
    public int Pid { get; }

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
            await ProcessRunner.WaitUntilAsync(() => (pid = ChildOf(run.Id)) > 0 || run.HasExited, TimeSpan.FromSeconds(30), $"dotnet crac run to start {Path.GetFileName(assembly)}");
            await ProcessRunner.WaitUntilAsync(
                () => ProcessRunner.ReadShared(output).Contains(readyMarker, StringComparison.Ordinal) || run.HasExited, TimeSpan.FromSeconds(60), $"'{readyMarker}' from {Path.GetFileName(assembly)}");
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

        string output = Output;
        return new ToolResult(restore.ExitCode, output[(int)Math.Min(before, output.Length)..], ProcessRunner.ReadShared(stderr), stopwatch.Elapsed);
    }

    /// <summary>The first child of a process (the application that dotnet crac run started), or 0.</summary>
    private static int ChildOf(int pid)
    {
        try
        {
            string children = File.ReadAllText($"/proc/{pid}/task/{pid}/children").Trim();
            return children.Length == 0 ? 0 : int.Parse(children.Split(' ')[0], CultureInfo.InvariantCulture);
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
