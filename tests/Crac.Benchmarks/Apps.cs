using System.Diagnostics;

namespace Crac.Benchmarks;

/// <summary>The built artifacts the benchmarks start (the same layout as the tests use).</summary>
internal static class Apps
{
    public static string Configuration { get; } = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/')).Name;

    public static string Root { get; } = FindRoot();

    /// <summary>
    /// The tool as its package ships it on linux-x64: a native (NativeAOT) executable, with the
    /// ReadyToRun agent side beside it. Published once per benchmark run (incrementally), since
    /// every command is a cold start of the tool, and run directly, not through `dotnet`.
    /// </summary>
    public static string Tool => NativeTool.Value;

    /// <summary>The status benchmark's baseline built as the tool is: one diagnostics call, NativeAOT.</summary>
    public static string BareClientNative => NativeBareClient.Value;

    /// <summary>The same bare client on the JIT, framework-dependent, run with `dotnet`.</summary>
    public static string BareClientJit => Output("BareDiagnosticsClient", "BareDiagnosticsClient.dll");

    private static readonly Lazy<string> NativeTool = new(() => PublishNative(Path.Combine("tool", "dotnet-crac"), "dotnet-crac", "src", "agent"));

    private static readonly Lazy<string> NativeBareClient = new(() => PublishNative(Path.Combine("tests", "apps", "BareDiagnosticsClient"), "BareDiagnosticsClient"));

    /// <summary>Publishes a project ReadyToRun for linux-x64 into a scratch folder and returns its entry assembly.</summary>
    public static string Publish(string project, string assemblyName) =>
        Path.Combine(PublishTo(project, assemblyName, "--self-contained", "false", "-p:PublishReadyToRun=true"), assemblyName + ".dll");

    /// <summary>
    /// Publishes a project NativeAOT for linux-x64 into a scratch folder and returns its executable.
    /// The native compiler takes minutes on a busy 2-core machine and runs again even when nothing
    /// changed, so an executable newer than every file of the project (and of the folders it
    /// compiles in, <paramref name="dependencies"/>) is used as it is.
    /// </summary>
    public static string PublishNative(string project, string executableName, params string[] dependencies)
    {
        string folder = executableName + "-native";
        var executable = new FileInfo(Path.Combine(Path.GetTempPath(), "crac-bench-publish", folder, executableName));
        DateTime newestSource = ((string[])[project, .. dependencies])
            .SelectMany(directory => Directory.EnumerateFiles(Path.Combine(Root, directory), "*", SearchOption.AllDirectories))
            .Concat(Directory.EnumerateFiles(Root, "Directory.*.props"))
            .Where(file => !file.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                        && !file.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .Max(File.GetLastWriteTimeUtc);
        return executable.Exists && executable.LastWriteTimeUtc > newestSource
            ? executable.FullName
            : Path.Combine(PublishTo(project, folder, "-p:PublishAot=true"), executableName);
    }

    private static string PublishTo(string project, string folder, params string[] properties)
    {
        string output = Path.Combine(Path.GetTempPath(), "crac-bench-publish", folder);
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { "publish", Path.Combine(Root, project), "-c", "Release", "-r", "linux-x64", "-o", output },
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        properties.ToList().ForEach(start.ArgumentList.Add);
        using Process process = Process.Start(start)!;
        string log = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return process.ExitCode == 0 ? output : throw new InvalidOperationException($"publish {project} failed:\n{log}");
    }

    /// <summary>The agent as built (JIT-compiled, without the hosting layer, which is not beside it).</summary>
    public static string Agent => Output("Crac.Agent", "Crac.Agent.dll");

    /// <summary>
    /// The agent as `dotnet crac run` injects it: the copy in the tool's package, ReadyToRun, with
    /// Crac.Hosting and Crac.AspNetCore beside it, so a host's configuration, pools, background
    /// work and Kestrel take part in the checkpoint by themselves.
    /// </summary>
    public static string ShippedAgent => Path.Combine(Path.GetDirectoryName(Tool)!, "Crac.Agent.dll");

    public static string Tracker => Output("Crac.Agent", "libcrac-fdtrack.so");

    public static string SampleApp => Output("SampleApp", "SampleApp.dll");

    public static string WebApp => Output("WebApp", "WebApp.dll");

    public static string HelloApp => Output("HelloApp", "HelloApp.dll");

    public static string HostingSample => Output("HostingSample", "HostingSample.dll");

    public static string HelloWithAgent => Output("HelloWithAgent", "HelloWithAgent.dll");

    public static string EmptyHook => Output("EmptyHook", "EmptyHook.dll");

    public static string HeapApp => Output("HeapApp", "HeapApp.dll");

    public static string Self => typeof(Apps).Assembly.Location;

    private static string Output(string project, string file) => Path.Combine(Root, "artifacts", "bin", project, Configuration, file);

    /// <summary>Starts a program with stdio in a file (a restored process inherits its restorer's).</summary>
    public static Process Start(string program, IEnumerable<string> arguments, string output, IDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add("exec \"$@\" </dev/null >>\"$BENCH_OUT\" 2>&1");
        start.ArgumentList.Add("sh");
        start.ArgumentList.Add(program);
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["BENCH_OUT"] = output;
        start.Environment.Remove("DOTNET_STARTUP_HOOKS");
        foreach ((string name, string value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        return Process.Start(start)!;
    }

    /// <summary>Runs a program to its end and returns its wall time in milliseconds.</summary>
    public static double TimeRun(string program, IEnumerable<string> arguments, IDictionary<string, string>? environment = null)
    {
        string output = Path.GetTempFileName();
        long start = Stopwatch.GetTimestamp();
        using Process process = Start(program, arguments, output, environment);
        process.WaitForExit();
        double elapsed = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} exited with {process.ExitCode}: {File.ReadAllText(output)}");
        }

        File.Delete(output);
        return elapsed;
    }

    public static void WaitFor(Func<bool> condition, string what, int timeoutMilliseconds = 30_000)
    {
        var stopwatch = Stopwatch.StartNew();
        while (!condition())
        {
            if (stopwatch.ElapsedMilliseconds > timeoutMilliseconds)
            {
                throw new TimeoutException($"Timed out waiting for {what}.");
            }

            Thread.Sleep(1);
        }
    }

    public static void Kill(int pid)
    {
        Process.Start("kill", ["-9", pid.ToString(System.Globalization.CultureInfo.InvariantCulture)])!.WaitForExit();
        WaitFor(() => !Directory.Exists($"/proc/{pid}"), $"pid {pid} to go");
    }

    public static long RssKilobytes(int pid) =>
        long.Parse(File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture);

    public static long DirectoryBytes(string directory) => Directory.GetFiles(directory).Sum(f => new FileInfo(f).Length);

    private static string FindRoot()
    {
        for (DirectoryInfo? directory = new(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Crac.Diagnostics.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("Run the benchmarks from a checkout (Crac.Diagnostics.sln not found).");
    }
}
