using System.Runtime.InteropServices;

namespace Crac.Agent;

/// <summary>
/// A process that is pid 1 of its pid namespace (<c>dotnet crac run</c>'s default, a container's
/// first process) receives only the signals it handles: the kernel drops the rest. The runtime's
/// default for a SIGTERM or SIGHUP that no handler cancels is to raise it again with the default
/// action, so there a plain console app would ignore them, unlike the same app anywhere else.
/// This restores the usual behaviour: once every handler has run (the Generic Host's cancels
/// SIGTERM and stops gracefully), a signal that nobody cancelled ends the process with 128 + its
/// number, ProcessExit handlers included.
/// </summary>
internal static class InitProcessSignals
{
    // Kept: a registration that is collected stops handling its signal.
    private static PosixSignalRegistration[]? _registrations;

    /// <summary>How long after its handlers ran a signal's cancellation is read: they run at once, on the runtime's signal thread.</summary>
    private static readonly TimeSpan Settle = TimeSpan.FromMilliseconds(100);

    public static void Install()
    {
        if (Environment.ProcessId != 1)
        {
            return;
        }

        _registrations =
        [
            PosixSignalRegistration.Create(PosixSignal.SIGTERM, context => ExitUnlessCancelled(context, 15)),
            PosixSignalRegistration.Create(PosixSignal.SIGHUP, context => ExitUnlessCancelled(context, 1)),
        ];
    }

    private static void ExitUnlessCancelled(PosixSignalContext context, int number) =>
        // Other handlers may run after this one and cancel it: decide when they all have.
        _ = Task.Delay(Settle).ContinueWith(_ =>
        {
            if (!context.Cancel)
            {
                Environment.Exit(128 + number);
            }
        }, TaskScheduler.Default);
}
