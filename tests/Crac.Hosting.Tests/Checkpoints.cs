using Crac.Coordination;

namespace Crac.Hosting.Tests;

/// <summary>In-process checkpoints with the simulate engine: the whole coordination, no image.</summary>
internal static class Checkpoints
{
    public static Task<CheckpointReport> SimulateAsync(TimeSpan? timeout = null) =>
        Coordinator.RunAsync(new CheckpointOptions { Engine = "simulate", Timeout = timeout ?? TimeSpan.FromSeconds(20) }, Engines.CheckpointTrigger.Api, observer: null, CancellationToken.None);

    public static string Describe(CheckpointReport report) =>
        $"{report.Outcome}: {report.Failure}\n" + string.Join('\n', report.Actions.Select(a => $"{a.Source}: {a.Description}"));
}
