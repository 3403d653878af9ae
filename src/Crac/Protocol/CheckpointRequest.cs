using System.Text.Json.Serialization;
using Crac.Configuration;
using Crac.Diagnostics;

namespace Crac.Protocol;

/// <summary>A checkpoint as the operator asked for it; what is left unset, the process's own configuration decides.</summary>
internal sealed record CheckpointRequest
{
    public string? Engine { get; init; }

    public string? ImageDirectory { get; init; }

    public string? EngineOptions { get; init; }

    public bool DryRun { get; init; }

    public bool KeepRunning { get; init; }

    /// <summary>Exactly what was asked: unset (the process's CRAC_CHECKPOINT_TIMEOUT, else 30 s), a duration, or infinite.</summary>
    [JsonConverter(typeof(DurationJsonConverter))]
    public TimeSpan? Timeout { get; init; }

    /// <summary>
    /// The rendezvous directory the tool prepared (<see cref="Protocol.Rendezvous"/>): the process
    /// reports being parked, and finishing, there; the tool wakes it there. Null: the channel alone.
    /// </summary>
    public string? Rendezvous { get; init; }

    /// <summary>The operator's policies for this checkpoint only, ahead of the process's own.</summary>
    public PolicyText? Policies { get; init; }

    public CheckpointOptions ToOptions() => new()
    {
        Engine = Engine,
        ImageDirectory = ImageDirectory,
        EngineOptions = EngineOptions,
        DryRun = DryRun,
        KeepRunning = KeepRunning,
        Timeout = Timeout,
    };
}
