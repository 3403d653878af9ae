using System.Runtime.CompilerServices;
using Microsoft.Diagnostics.NETCore.Client;

namespace Crac.Tool.Agent;

/// <summary>
/// A DiagnosticsClient for a process, by pid, or by the socket path this tool found for a process
/// in another namespace. The library finds a container's socket itself only when the pid differs
/// there (NSpid); from a sidecar that shares the pid namespace but not the mounts it looks in the
/// wrong /tmp, and in a /tmp shared by several namespaces' pid 1s it may pick another's socket.
/// The library has no public way to name a socket, so its own internal constructor (the one
/// dotnet-trace's --diagnostic-port uses) is reached through UnsafeAccessor: no reflection, AOT-safe.
/// </summary>
internal static class DiagnosticsEndpoint
{
    private const string Library = "Microsoft.Diagnostics.NETCore.Client";

    public static DiagnosticsClient Connect(TargetProcess target) =>
        target.IsInOtherNamespace && TargetProcess.ReachSocket(target.Pid) is { } socket
            ? NewClient(NewEndpoint(socket + ",connect"))
            : new DiagnosticsClient(target.Pid);

    [UnsafeAccessor(UnsafeAccessorKind.Constructor)]
    [return: UnsafeAccessorType($"{Library}.DiagnosticPortIpcEndpoint, {Library}")]
    private static extern object NewEndpoint(string config);

    [UnsafeAccessor(UnsafeAccessorKind.Constructor)]
    private static extern DiagnosticsClient NewClient([UnsafeAccessorType($"{Library}.IpcEndpoint, {Library}")] object endpoint);
}
