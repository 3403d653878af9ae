using Crac.Protocol;
using Crac.Tool.Agent;
using Microsoft.Diagnostics.NETCore.Client;

namespace Crac.Benchmarks;

/// <summary>The diagnostics channel: a whole `dotnet crac status` against a bare client, and the round trip itself.</summary>
internal static class ChannelBenchmarks
{
    private const int ColdRuns = 15;
    private const int WarmRuns = 40;

    public static async Task<string> RunAsync()
    {
        string output = Path.GetTempFileName();
        using var app = Apps.Start("dotnet", [Apps.SampleApp], output, new Dictionary<string, string> { ["DOTNET_STARTUP_HOOKS"] = Apps.Agent });
        Apps.WaitFor(() => File.ReadAllText(output).Contains("ready pid="), "the app to start");
        int pid = app.Id;
        try
        {
            // The tool is native (NativeAOT), so the fair baseline is a bare client built the same way;
            // the same client on the JIT is measured too, as the framework-dependent tool would be.
            IReadOnlyList<Samples> cold = Harness.Alternate(
                ColdRuns,
                ("bare DiagnosticsClient call, NativeAOT (fresh process)", () => Apps.TimeRun(Apps.BareClientNative, [pid.ToString()])),
                ("bare DiagnosticsClient call, JIT (fresh `dotnet` process)", () => Apps.TimeRun("dotnet", [Apps.BareClientJit, pid.ToString()])),
                ("dotnet crac status, native (fresh process)", () => Apps.TimeRun(Apps.Tool, ["status", pid.ToString()])));
            Harness.Target(4, "`status` from a fresh process (both NativeAOT)", cold[0], cold[2], 1.5);

            var client = new AgentClient(TargetProcess.Open(pid));
            var diagnostics = new DiagnosticsClient(pid);
            // The runtime serves one diagnostics command at a time, and stopping a session takes it
            // about 100 ms: let each sample's stop finish, untimed, before the next sample starts.
            IReadOnlyList<Samples> warm = Harness.Alternate(
                WarmRuns,
                ("bare DiagnosticsClient call (warm)", () => Settled(() => diagnostics.GetProcessEnvironment())),
                ("agent status round trip (warm: session, reply, stop sent)", () => Settled(() =>
                    client.StatusAsync(CancellationToken.None).GetAwaiter().GetResult())));
            Harness.Target(5, "status round trip, warm", warm[0], warm[1], 5.0);
            await Task.CompletedTask;
            return Harness.Table("`dotnet crac status` against a bare diagnostics call, each from a fresh process", cold) +
                   Harness.Table("In-process round trip (the session is stopped each time, as the tool does)", warm);
        }
        finally
        {
            Apps.Kill(pid);
            File.Delete(output);
        }
    }

    private static double Settled(Action action)
    {
        double elapsed = Harness.Time(action);
        Thread.Sleep(200);
        return elapsed;
    }
}
