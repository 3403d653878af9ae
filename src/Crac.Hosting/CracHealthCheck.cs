using Crac.Management;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Crac.Hosting;

/// <summary>
/// Reports whether the process can be checkpointed now (<see cref="Core.Status"/>): healthy when
/// ready, degraded with the reason otherwise. A process that cannot be checkpointed still serves,
/// so this check never reports unhealthy; filter on its tag (<c>crac</c>) to gate a checkpoint on it.
/// </summary>
internal sealed class CracHealthCheck : IHealthCheck
{
    public const string Name = "crac";

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        CracStatus status = Core.Status;
        var data = new Dictionary<string, object>
        {
            ["engine"] = status.Engine,
            ["checkpointability"] = status.Checkpointability.ToString(),
            ["generation"] = status.Generation,
            ["lastCheckpointOutcome"] = status.LastCheckpointOutcome,
        };
        if (status.LastCheckpointError is { } error)
        {
            data["lastCheckpointError"] = error;
        }

        HealthCheckResult result = status.Checkpointability == Checkpointability.Ready
            ? HealthCheckResult.Healthy($"Checkpointable ({status.Engine} engine).", data)
            : HealthCheckResult.Degraded($"Not checkpointable now ({status.Checkpointability}): {status.Reason}", data: data);
        return Task.FromResult(result);
    }
}
