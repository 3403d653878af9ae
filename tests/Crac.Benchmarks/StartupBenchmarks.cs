using System.Globalization;

namespace Crac.Benchmarks;

/// <summary>What loading the agent costs an application: start-up time, and CPU while idle.</summary>
internal static class StartupBenchmarks
{
    private const int Runs = 30;

    public static string Run()
    {
        // Both apps are published as production apps usually are, ReadyToRun (precompiled), so
        // that neither pays for JIT the other does not; the package reference compiles the agent in.
        string hello = Apps.Publish(Path.Combine("tests", "apps", "HelloApp"), "HelloApp");
        string helloWithAgent = Apps.Publish(Path.Combine("tests", "apps", "HelloWithAgent"), "HelloWithAgent");
        // The agent as `dotnet crac run` injects it: the precompiled copy in the tool package.
        var withAgent = new Dictionary<string, string> { ["DOTNET_STARTUP_HOOKS"] = Apps.ShippedAgent };
        IReadOnlyList<Samples> startup = Harness.Alternate(
            Runs,
            ("without the agent", () => Apps.TimeRun("dotnet", [hello])),
            ("agent by package reference (module initializer)", () => Apps.TimeRun("dotnet", [helloWithAgent])),
            ("an empty startup hook (the runtime's hook machinery alone)", () => Apps.TimeRun("dotnet", [hello], new Dictionary<string, string> { ["DOTNET_STARTUP_HOOKS"] = Apps.EmptyHook })),
            ("agent by startup hook (DOTNET_STARTUP_HOOKS)", () => Apps.TimeRun("dotnet", [hello], withAgent)));

        Harness.Target(8, "start-up: agent by startup hook against an empty startup hook", startup[2], startup[3], 1.05);
        // Two windows: 1-6 s after "ready", when the runtime still recompiles hot ReadyToRun code at
        // tier 1 in the background (the agent's code among it), and 10-15 s, when the app is idle.
        ((double Tail, double Idle) without, (double Tail, double Idle) with) = (IdleCpu(null), IdleCpu(withAgent));
        Harness.Record(11, "idle CPU over 5 s, 10 s after start-up (SampleApp)", $"without the agent: {without.Idle:0} ms", $"with it: {with.Idle:0} ms",
            without.Idle > 0 ? (with.Idle / without.Idle).ToString("0.00", CultureInfo.InvariantCulture) : "—", "no target");
        Harness.Record(11, "CPU over 5 s, 1 s after start-up (SampleApp)", $"without the agent: {without.Tail:0} ms", $"with it: {with.Tail:0} ms",
            without.Tail > 0 ? (with.Tail / without.Tail).ToString("0.00", CultureInfo.InvariantCulture) : "—", "no target: start-up's tail, tier-1 recompilation included");
        return Harness.Table("Start-up of a hello-world app, process start to exit", startup) +
               string.Create(CultureInfo.InvariantCulture,
                   $"\nCPU of SampleApp (ticking every 100 ms) over 5 s: 1-6 s after start-up {without.Tail:0} ms without the agent, {with.Tail:0} ms with it; " +
                   $"idle, 10-15 s after start-up, {without.Idle:0} ms without, {with.Idle:0} ms with.\n");
    }

    /// <summary>CPU time (user + system) a running app uses over five seconds, 1 s after it started and again 10 s after.</summary>
    private static (double Tail, double Idle) IdleCpu(IDictionary<string, string>? environment)
    {
        string output = Path.GetTempFileName();
        using var process = Apps.Start("dotnet", [Apps.SampleApp], output, environment);
        Apps.WaitFor(() => File.ReadAllText(output).Contains("ready pid="), "the app to start");
        Thread.Sleep(1000);
        double start = CpuMilliseconds(process.Id);
        Thread.Sleep(5000);
        double tail = CpuMilliseconds(process.Id);
        Thread.Sleep(4000);
        double idleStart = CpuMilliseconds(process.Id);
        Thread.Sleep(5000);
        double idle = CpuMilliseconds(process.Id) - idleStart;
        Apps.Kill(process.Id);
        File.Delete(output);
        return (tail - start, idle);
    }

    private static double CpuMilliseconds(int pid)
    {
        // Clock ticks, 100 per second.
        Crac.Interop.ProcStat stat = Crac.Interop.ProcStat.Read(pid) ?? throw new InvalidOperationException($"Process {pid} is gone.");
        return (stat.UserTicks + stat.SystemTicks) * 10.0;
    }
}
