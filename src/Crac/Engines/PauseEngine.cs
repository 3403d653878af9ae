using Crac.Interop;

namespace Crac.Engines;

/// <summary>
/// CRaC's pause engine: the checkpoint stops at the coordination point, writes the process id
/// into the image directory and waits; <c>dotnet crac restore &lt;dir&gt;</c> wakes it. Useful
/// where CRIU is not available, and to test an application's coordination end to end.
/// </summary>
internal sealed class PauseEngine : CheckpointEngine
{
    public const string PidFileName = "pid";

    public override string Name => "pause";

    public override string Summary => "stops the process at the coordination point and writes its pid; dotnet crac restore <dir> wakes it";

    public override async Task<EngineResult> CheckpointAsync(EngineRequest request)
    {
        string directory = request.Options.ImageDirectory!;
        Task<RestoreSignal> wake;
        try
        {
            ImageDirectory.Prepare(directory);
            (ImageMetadata.Capture(Name, request.Generation, criuVersion: null) with { Limits = request.Options.Limits }).Write(directory);
            wake = RestoreGate.Arm();
            ImageDirectory.WritePrivateFile(Path.Combine(directory, PidFileName), $"{Libc.getpid()}\n");
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            RestoreGate.Disarm();
            return EngineResult.Failed(exception, directory);
        }

        request.Observer?.OnPaused();

        // No deadline: a paused process stays paused until it is restored.
        RestoreSignal signal = await wake.ConfigureAwait(false);
        File.Delete(Path.Combine(directory, PidFileName));
        return new EngineResult(EngineResultKind.Restored) { Restore = signal.Context, ImageDirectory = directory };
    }
}
