using System.Text;
using Crac.Benchmarks;

// dotnet run -c Release --project tests/Crac.Benchmarks [-- startup|channel|fdtrack|criu|heap|gate|hosting|all]
// Prints Markdown: the machine and date, then one table per comparison (medians, spread, ratios),
// then issue 11's targets, each against its baseline measured in the same run, met or not.
string[] suites = args.Length == 0 || args.Contains("all") ? ["startup", "channel", "fdtrack", "criu", "heap", "gate", "hosting"] : args;
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
        "heap" => HeapBenchmarks.Run(),
        "gate" => GateBenchmarks.Run(),
        "hosting" => HostingBenchmarks.Run(),
        _ => throw new ArgumentException($"Unknown suite '{suite}': use startup, channel, fdtrack, criu, heap, gate, hosting or all."),
    };
    Console.WriteLine(section);
    report.Append(section);
}

string targets = Harness.TargetTable();
Console.WriteLine(targets);
return 0;
