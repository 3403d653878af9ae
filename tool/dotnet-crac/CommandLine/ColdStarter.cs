using Crac.Tool.Output;

namespace Crac.Tool.CommandLine;

/// <summary>
/// <c>restore --or-start -- &lt;command&gt;</c>, CRaC's CRaCIgnoreRestoreIfUnavailable: when the image
/// cannot be used, the application starts cold instead, and says why. Detached, it is started with
/// its output in --output (else /dev/null) and the tool exits with <see cref="ReturnCode.StartedCold"/>;
/// supervised (--foreground), the tool stays, forwards signals and exits with the app's code.
/// </summary>
internal sealed class ColdStarter(string[] command, string? outputFile, OutputFormat format)
{
    /// <summary>The failures that mean "this image cannot be used here", before any process was restored.</summary>
    public static bool CanReplace(ReturnCode code) =>
        code is ReturnCode.ImageUnusable or ReturnCode.CriuUnavailable or ReturnCode.PidConflict or ReturnCode.RestoreFailed or ReturnCode.LabelMissing or ReturnCode.PermissionDenied;

    public async Task<ReturnCode> StartAsync(ToolException why, bool supervise, CancellationToken cancellationToken)
    {
        string? output = supervise ? null : outputFile ?? "/dev/null";
        (System.Diagnostics.Process child, Func<int> applicationPid) = AppLauncher.Start(command, collectFdStackTraces: false, pidNamespace: false, output);
        using (child)
        {
            if (format == OutputFormat.Json)
            {
                ToolJsonContext.Write(new ColdStartResult(applicationPid(), command, (int)why.Code, why.Message, !supervise, output), ToolJsonContext.Default.ColdStartResult);
            }
            else
            {
                // The operator's record of why this instance did not restore: on stderr, beside the app's own output.
                Console.Error.WriteLine($"Starting cold instead of restoring: {why.Message}");
                Console.Error.WriteLine($"Started {string.Join(' ', command)} cold as pid {applicationPid()}{(output is null ? string.Empty : $"; its output goes to {output}")}.");
            }

            if (!supervise)
            {
                return ReturnCode.StartedCold;
            }

            using IDisposable forwarding = SignalForwarding.To(applicationPid());
            await child.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
            return (ReturnCode)child.ExitCode;
        }
    }
}
