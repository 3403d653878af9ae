using Crac.Coordination;
using Crac.Diagnostics;

namespace Crac.Protocol;

/// <summary>How a checkpoint ended, as the tool prints it.</summary>
internal sealed record CheckpointReportMessage
{
    public required CheckpointOutcome Outcome { get; init; }

    public required string Engine { get; init; }

    public required bool DryRun { get; init; }

    public string? ImageDirectory { get; init; }

    public required int Generation { get; init; }

    public IReadOnlyList<PhaseMessage> Phases { get; init; } = [];

    /// <summary>What was done automatically for the checkpoint (connections closed, locks taken along...), in order.</summary>
    public IReadOnlyList<CheckpointAction> Actions { get; init; } = [];

    /// <summary>For a dry run that passed: the command the engine would run to take the image.</summary>
    public IReadOnlyList<string>? EngineCommand { get; init; }

    /// <summary>The checkpoint's (or restore's) exception tree, when it failed.</summary>
    public ExceptionNode? Failure { get; init; }

    public static CheckpointReportMessage From(CheckpointReport report) => new()
    {
        Outcome = report.Outcome,
        Engine = report.Engine,
        DryRun = report.DryRun,
        ImageDirectory = report.ImageDirectory,
        Generation = report.Generation,
        Phases = [.. report.Phases.Select(PhaseMessage.From)],
        Actions = report.Actions,
        EngineCommand = report.EngineCommand,
        Failure = report.Failure is { } failure ? ExceptionNode.FromException(failure) : null,
    };
}
