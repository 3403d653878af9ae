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
            IReadOnlyList<Samples> cold = Harness.Alternate(
                ColdRuns,
                ("bare DiagnosticsClient call (fresh process)", () => Apps.TimeRun("dotnet", [Apps.Self, "bare-client", pid.ToString()])),
                ("dotnet crac status (fresh process)", () => Apps.TimeRun("dotnet", [Apps.Tool, "status", pid.ToString()])));

            var client = new AgentClient(TargetProcess.Open(pid));
            var diagnostics = new DiagnosticsClient(pid);
            IReadOnlyList<Samples> warm = Harness.Alternate(
                WarmRuns,
                ("bare DiagnosticsClient call (warm)", () => Harness.Time(() => diagnostics.GetProcessEnvironment())),
                ("agent status round trip (warm, session start to reply)", () => Harness.Time(() =>
                    client.SendRawAsync(AgentCommands.Status, "{}", AgentClient.DefaultReplyTimeout, CancellationToken.None).GetAwaiter().GetResult())));
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
}
