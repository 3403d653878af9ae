using System.Text;
using Crac.Benchmarks;
using Microsoft.Diagnostics.NETCore.Client;

// dotnet run -c Release --project tests/Crac.Benchmarks [-- startup|channel|fdtrack|criu|gate|hosting|all]
// Prints Markdown: the machine and date, then one table per comparison, medians and ratios.
if (args is ["bare-client", var pidText])
{
    // The baseline of the channel benchmark: a fresh process that makes one plain diagnostics call.
    _ = new DiagnosticsClient(int.Parse(pidText)).GetProcessEnvironment();
    return 0;
}

string[] suites = args.Length == 0 || args.Contains("all") ? ["startup", "channel", "fdtrack", "criu", "gate", "hosting"] : args;
var report = new StringBuilder($"Benchmarks of dotnet-crac ({Apps.Configuration} build), {Harness.Machine()}\n");
Console.WriteLine(report);
foreach (string suite in suites)
{
    string section = suite switch
    {
        "startup" => StartupBenchmarks.Run(),
        "channel" => await ChannelBenchmarks.RunAsync(),
        "fdtrack" => FdTrackingBenchmarks.Run(),
        "criu" => CriuBenchmarks.Run(),
        "gate" => GateBenchmarks.Run(),
        "hosting" => HostingBenchmarks.Run(),
        _ => throw new ArgumentException($"Unknown suite '{suite}': use startup, channel, fdtrack, criu, gate, hosting or all."),
    };
    Console.WriteLine(section);
    report.Append(section);
}

return 0;
