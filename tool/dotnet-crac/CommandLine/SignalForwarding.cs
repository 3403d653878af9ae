using System.Runtime.InteropServices;
using Crac.Interop;

namespace Crac.Tool.CommandLine;

/// <summary>
/// A supervisor's signals passed on to the process it stands for (<c>run</c>, <c>restore
/// --foreground</c>): SIGTERM, SIGINT and SIGHUP reach it instead of ending the supervisor, which
/// then exits with its exit code, as a container entrypoint or a systemd service must.
/// </summary>
internal static class SignalForwarding
{
    public static IDisposable To(int pid) => new Registrations(
    [
        Forward(pid, PosixSignal.SIGTERM, Libc.SIGTERM),
        Forward(pid, PosixSignal.SIGINT, Libc.SIGINT),
        Forward(pid, PosixSignal.SIGHUP, Libc.SIGHUP),
    ]);

    private static PosixSignalRegistration Forward(int pid, PosixSignal signal, int number) =>
        PosixSignalRegistration.Create(signal, context =>
        {
            context.Cancel = true;
            _ = Libc.kill(pid, number);
        });

    private sealed class Registrations(PosixSignalRegistration[] registrations) : IDisposable
    {
        public void Dispose()
        {
            foreach (PosixSignalRegistration registration in registrations)
            {
                registration.Dispose();
            }
        }
    }
}
