using Crac.Coordination;
using Crac.Engines;
using Crac.Engines.Criu;
using Crac.Protocol;

namespace Crac.Agent;

/// <summary>
/// The agent's side of the <see cref="Rendezvous"/>: it reports a parked checkpoint and a finished
/// one there, takes the tool's wake-up from there, and reads the restorer's hand-over the moment
/// CRIU has restored the process, so that a restored service answers without waiting for a session.
/// </summary>
internal static class RendezvousLink
{
    private static readonly TimeSpan WatchInterval = TimeSpan.FromMilliseconds(2);
    private static Rendezvous? _active;

    public static void Install()
    {
        RestoreGate.RestoreContextReader = ReadRestoreContext;
        Coordinator.Completed += WriteReport;
    }

    /// <summary>The rendezvous of the checkpoint running now: its report goes there.</summary>
    public static void Use(Rendezvous rendezvous) => Volatile.Write(ref _active, rendezvous);

    /// <summary>Reports the parked state, then watches for the tool's wake-up until the checkpoint leaves it.</summary>
    public static void Park(Rendezvous rendezvous, OutcomeReply parked, Func<bool> stillParked, Action onResumed)
    {
        WarmRestoreRead();
        rendezvous.Write(Rendezvous.Parked, parked, CracJsonContext.Default.OutcomeReply);
        // A process CRIU restores reads its restore hand-over itself, the moment it finds itself
        // restored (ReadRestoreContext): this thread, restored too, must not race it for the file.
        bool wakeFromRestore = parked.State == CheckpointState.Paused;
        new Thread(() => Watch(rendezvous, wakeFromRestore, stillParked, onResumed)) { IsBackground = true, Name = "crac-rendezvous" }.Start();
    }

    private static void Watch(Rendezvous rendezvous, bool wakeFromRestore, Func<bool> stillParked, Action onResumed)
    {
        try
        {
            while (stillParked())
            {
                // A resume for a process kept running or whose dump failed; a restore for a paused one.
                ResumeRequest? request = rendezvous.TryRead(Rendezvous.Resume, CracJsonContext.Default.ResumeRequest, consume: true)
                    ?? (wakeFromRestore ? rendezvous.TryRead(Rendezvous.Restore, CracJsonContext.Default.ResumeRequest, consume: true) : null);
                if (request is not null)
                {
                    if (RestoreGate.TrySignal(request.ToSignal()))
                    {
                        onResumed();
                    }

                    return;
                }

                Thread.Sleep(WatchInterval);
            }
        }
        catch (Exception)
        {
            // A malformed file is ignored: the tool's own wait ends it, and the channel still works.
        }
    }

    /// <summary>
    /// Parking, without a checkpoint: the parked state's JSON for <paramref name="sample"/>, the
    /// restore hand-over's, and the final report's. Their first run is mostly JIT compilation, tens
    /// of ms between the process being ready (or restored) and the tool learning it (see AgentHost.WarmUp).
    /// </summary>
    public static void WarmUp(DumpInstructions sample)
    {
        WarmRestoreRead();
        _ = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(
            new OutcomeReply { State = CheckpointState.WaitingForDump, Phase = CheckpointPhase.WaitingForDump, Dump = sample }, CracJsonContext.Default.OutcomeReply);
        var restored = new CheckpointReport
        {
            Outcome = CheckpointOutcome.Restored,
            Engine = "criu",
            DryRun = false,
            Generation = 1,
            ImageDirectory = sample.ImageDirectory,
            Phases = [new PhaseTiming(CheckpointPhase.AfterRestore, TimeSpan.FromMilliseconds(1))],
            Actions = [new CheckpointAction("warm-up", "a report like a restore's")],
        };
        _ = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(
            new OutcomeReply { State = CheckpointState.Done, Report = CheckpointReportMessage.From(restored) }, CracJsonContext.Default.OutcomeReply);
    }

    /// <summary>
    /// A restored process reads its hand-over first: reading one now, before the image is taken,
    /// leaves that path compiled and initialised in the image (measured: tens of ms otherwise).
    /// </summary>
    private static void WarmRestoreRead()
    {
        var sample = new ResumeRequest
        {
            Kind = ResumeKind.Restored,
            Environment = new Dictionary<string, string>(StringComparer.Ordinal) { ["DOTNET_CRAC"] = "warm" },
            Arguments = ["warm"],
            RestoreStartedAt = DateTimeOffset.UtcNow,
        };
        byte[] json = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(sample, CracJsonContext.Default.ResumeRequest);
        _ = System.Text.Json.JsonSerializer.Deserialize(json, CracJsonContext.Default.ResumeRequest)?.ToSignal();
    }

    private static RestoreContext? ReadRestoreContext()
    {
        try
        {
            Rendezvous? rendezvous = Rendezvous.Open(Rendezvous.PathFor(Environment.ProcessId, Path.GetTempPath()));
            ResumeRequest? request = rendezvous?.TryRead(Rendezvous.Restore, CracJsonContext.Default.ResumeRequest, consume: true);
            if (request is null)
            {
                return null;
            }

            Use(rendezvous!);
            return request.ToSignal().Context;
        }
        catch (Exception)
        {
            return null;
        }
    }

    /// <summary>Writes the report of the checkpoint (or restore) that just ended where its tool waits for it.</summary>
    public static void WriteReport(CheckpointReport report)
    {
        Rendezvous? rendezvous = Interlocked.Exchange(ref _active, null);
        try
        {
            rendezvous?.Write(Rendezvous.Report, new OutcomeReply { State = CheckpointState.Done, Report = CheckpointReportMessage.From(report) }, CracJsonContext.Default.OutcomeReply);
        }
        catch (IOException)
        {
            // The tool has gone (and removed the directory): nobody is waiting for this report.
        }
    }
}
