using System.Diagnostics;

namespace Crac.EndToEnd.Tests.Infrastructure;

/// <summary>A running sample app (tests/apps), with or without the agent, and what it wrote.</summary>
internal sealed class SampleProcess : IDisposable
{
    private readonly Process _launcher;

    private SampleProcess(Process launcher, string directory, int pid)
    {
        _launcher = launcher;
        Directory = directory;
        Pid = pid;
    }

    public int Pid { get; }

    /// <summary>A private scratch directory for this process: its output, report and images.</summary>
    public string Directory { get; }

    public string OutputFile => Path.Combine(Directory, "output.log");

    public string ReportFile => Path.Combine(Directory, "report.log");

    public string Output => ProcessRunner.ReadShared(OutputFile);

    public IReadOnlyList<string> Report => ProcessRunner.ReadShared(ReportFile).Split('\n', StringSplitOptions.RemoveEmptyEntries);

    public bool IsAlive => ProcessRunner.IsAlive(Pid);

    /// <summary>Starts tests/apps/SampleApp and waits until it says it is ready.</summary>
    /// <param name="inheritedFile">A file the app inherits open for reading on fd <see cref="InheritedFd"/>, without close-on-exec, as a shell or service manager hands one down.</param>
    public static Task<SampleProcess> StartAsync(
        IEnumerable<string>? arguments = null, bool agent = true, IDictionary<string, string?>? environment = null, bool report = true, string? inheritedFile = null) =>
        StartAppAsync(Paths.SampleApp, arguments, agent, environment, report, "ready pid=", inheritedFile);

    public const int InheritedFd = 7;

    /// <summary>Starts tests/apps/WebApp on a loopback port and waits until it listens.</summary>
    public static Task<SampleProcess> StartWebAsync(int port, bool agent = true, IDictionary<string, string?>? environment = null) =>
        StartAppAsync(Paths.WebApp, ["--urls", $"http://127.0.0.1:{port}"], agent, environment, report: false, "Now listening on");

    /// <summary>Starts tests/apps/HeapApp (<paramref name="liveMegabytes"/> MB of live data) on a loopback port, with the agent.</summary>
    public static Task<SampleProcess> StartHeapAsync(int port, int liveMegabytes, IDictionary<string, string?>? environment = null) =>
        StartAppAsync(Paths.Output("HeapApp", "HeapApp.dll"), ["--live-mb", $"{liveMegabytes}", "--urls", $"http://127.0.0.1:{port}"], agent: true, environment, report: false, "ready pid=");

    /// <summary>Starts tests/apps/FdZoo holding one kind of descriptor, with the agent, and waits until it is open.</summary>
    public static Task<SampleProcess> StartZooAsync(string kind, string argument, IDictionary<string, string?>? environment = null) =>
        StartAppAsync(Paths.FdZoo, argument.Length == 0 ? [kind] : [kind, argument], agent: true, environment, report: false, "ready pid=");

    /// <summary>Starts an app of the real-workload corpus (tests/apps/Corpus) with the agent, and waits until it is ready.</summary>
    public static Task<SampleProcess> StartCorpusAsync(string name, IEnumerable<string> arguments) =>
        StartAppAsync(Paths.Output(name, name + ".dll"), arguments, agent: true, environment: null, report: false, "ready pid=");

    private static async Task<SampleProcess> StartAppAsync(
        string assembly, IEnumerable<string>? arguments, bool agent, IDictionary<string, string?>? environment, bool report, string readyMarker,
        string? inheritedFile = null)
    {
        string directory = System.IO.Directory.CreateTempSubdirectory("crac-e2e-").FullName;
        var allArguments = new List<string>();
        if (inheritedFile is not null)
        {
            // sh opens it and execs dotnet in the same process, so the pid stays the app's.
            allArguments.AddRange(["-c", $"exec {InheritedFd}<\"$0\"; exec dotnet \"$@\"", inheritedFile]);
        }

        allArguments.Add(assembly);
        allArguments.AddRange(arguments ?? []);
        if (report)
        {
            allArguments.AddRange(["--report-file", Path.Combine(directory, "report.log")]);
        }

        var allEnvironment = new Dictionary<string, string?>(environment ?? new Dictionary<string, string?>());
        if (agent)
        {
            allEnvironment["DOTNET_STARTUP_HOOKS"] = Paths.Agent;
        }

        Process launcher = ProcessRunner.Start(inheritedFile is null ? "dotnet" : "/bin/sh", allArguments, Path.Combine(directory, "output.log"), null, allEnvironment, ownSession: true);
        var process = new SampleProcess(launcher, directory, launcher.Id);
        try
        {
            await ProcessRunner.WaitUntilAsync(
                () => process.Output.Contains(readyMarker, StringComparison.Ordinal) || launcher.HasExited, TimeSpan.FromSeconds(30), $"{Path.GetFileName(assembly)} to start");
            if (launcher.HasExited)
            {
                throw new InvalidOperationException($"{assembly} exited at start with {launcher.ExitCode}:\n{process.Output}");
            }
        }
        catch
        {
            process.Dispose();
            throw;
        }

        return process;
    }

    public async Task WaitForOutputAsync(string text, TimeSpan? timeout = null) =>
        await ProcessRunner.WaitUntilAsync(() => Output.Contains(text, StringComparison.Ordinal), timeout ?? TimeSpan.FromSeconds(20), $"'{text}' in the output of {Pid}:\n{Output}");

    /// <summary>Waits until the process (or, after a checkpoint, its image's original) is gone, zombie reaped.</summary>
    public async Task WaitForExitAsync(TimeSpan? timeout = null)
    {
        await ProcessRunner.WaitUntilAsync(() => _launcher.HasExited || !ProcessRunner.IsAlive(Pid), timeout ?? TimeSpan.FromSeconds(20), $"process {Pid} to exit");
        await ProcessRunner.WaitUntilAsync(() => _launcher.HasExited, TimeSpan.FromSeconds(10), $"process {Pid} to be reaped");
    }

    public void Kill()
    {
        // The pid may now be a restored process that is not our child: signal it by number.
        if (ProcessRunner.IsAlive(Pid))
        {
            _ = Process.Start("kill", ["-9", Pid.ToString(System.Globalization.CultureInfo.InvariantCulture)])?.WaitForExit(5000);
        }
    }

    public void Dispose()
    {
        Kill();
        _launcher.Dispose();
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
