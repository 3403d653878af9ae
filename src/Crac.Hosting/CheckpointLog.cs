using System.Globalization;
using Crac.Coordination;
using Crac.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Crac.Hosting;

/// <summary>Logs every checkpoint's outcome through ILogger (category <c>Crac</c>): phases, what was done automatically, and a failure's exception tree.</summary>
internal sealed class CheckpointLog : IDisposable
{
    private readonly ILogger _logger;

    public CheckpointLog(ILoggerFactory loggers)
    {
        _logger = loggers.CreateLogger("Crac");
        Coordinator.Completed += OnCompleted;
    }

    private void OnCompleted(CheckpointReport report)
    {
        string phases = string.Join(", ", report.Phases.Select(p => string.Create(CultureInfo.InvariantCulture, $"{WireNames.Of(p.Phase)} {p.Duration.TotalMilliseconds:0.#} ms")));
        string actions = report.Actions.Count == 0 ? "nothing" : string.Join("; ", report.Actions.Select(a => $"{a.Source}: {a.Description}"));
        if (report.Failure is { } failure)
        {
            _logger.LogError(
                "Checkpoint {Outcome} ({Engine} engine); the application carries on. Phases: {Phases}. Done automatically: {Actions}.\n{Tree}",
                WireNames.Of(report.Outcome), report.Engine, phases, actions, failure);
            return;
        }

        _logger.LogInformation(
            "Checkpoint {Outcome} ({Engine} engine), generation {Generation}. Phases: {Phases}. Done automatically: {Actions}.",
            WireNames.Of(report.Outcome), report.Engine, report.Generation, phases, actions);
    }

    public void Dispose() => Coordinator.Completed -= OnCompleted;
}
