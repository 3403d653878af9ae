using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Crac.Interop;
using Microsoft.Diagnostics.NETCore.Client;

namespace Crac.Tool.Agent;

/// <summary>
/// A process's diagnostics endpoint: a DiagnosticsClient for it, by pid, or by the socket path this
/// tool found for a process in another namespace. The library finds a container's socket itself
/// only when the pid differs there (NSpid); from a sidecar that shares the pid namespace but not
/// the mounts it looks in the wrong /tmp, and in a /tmp shared by several namespaces' pid 1s it may
/// pick another's socket. The library has no public way to name a socket, nor to stop a session
/// without waiting for the runtime's answer, so its own internals (the endpoint dotnet-trace's
/// --diagnostic-port uses, a session's id) are reached through UnsafeAccessor: no reflection, AOT-safe.
/// </summary>
internal sealed class DiagnosticsEndpoint
{
    private const string Library = "Microsoft.Diagnostics.NETCore.Client";

    // Until the runtime has read the stop; it reads at once unless it is busy with another client's command.
    private static readonly TimeSpan StopReadWait = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan StopConnectTimeout = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan AnswerWait = TimeSpan.FromSeconds(5);

    private readonly object _endpoint;

    private DiagnosticsEndpoint(object endpoint)
    {
        _endpoint = endpoint;
        Client = NewClient(endpoint);
    }

    public DiagnosticsClient Client { get; }

    public static DiagnosticsEndpoint For(TargetProcess target) =>
        new(target.IsInOtherNamespace && TargetProcess.ReachSocket(target.Pid) is { } socket
            ? NewPortEndpoint(socket + ",connect")
            : NewPidEndpoint(target.Pid));

    /// <summary>
    /// Stops a session and hangs up, without waiting for the runtime's answer. The runtime answers
    /// a stop only after its session's streaming thread wakes from a 100 ms sleep (FACTS.md), and
    /// CRIU refuses a process while a client still holds a connection to it, so waiting for the
    /// answer put 100 ms on every checkpoint's path. A connection whose client has hung up CRIU
    /// dumps, and restores closed; an unread one it refuses ("closed in-flight socket"). So the
    /// stop goes out on a connection of its own, the tool waits only until the runtime has read it
    /// (nothing left in the socket's send queue), then closes both connections. A stop the runtime
    /// has not read within a second (it serves one client at a time) stays open until answered.
    /// </summary>
    /// <exception cref="IOException">The process is gone or does not answer.</exception>
    public void StopAndHangUp(EventPipeSession session)
    {
        ulong sessionId = SessionId(session);
        // Dispose would otherwise send a stop of its own and wait for the answer.
        Stopped(session) = true;
        try
        {
            Stream connection = Connect(_endpoint, StopConnectTimeout);
            connection.Write(DiagnosticsIpc.StopTracing(sessionId));
            if (connection is NetworkStream { Socket: { } socket } && DiagnosticsIpc.WaitUntilRead(socket, StopReadWait))
            {
                connection.Dispose();
            }
            else
            {
                // Closed unread, the stop would be lost and the connection would stop a dump: read the answer, then close.
                _ = Task.Run(() => ReadAnswerThenClose(connection));
            }
        }
        catch (Exception exception) when (exception is SocketException or ServerNotAvailableException or TimeoutException)
        {
            throw new IOException(exception.Message, exception);
        }
        finally
        {
            session.Dispose();
        }
    }

    private static void ReadAnswerThenClose(Stream connection)
    {
        using (connection)
        {
            if (connection is NetworkStream { Socket: { } socket })
            {
                socket.ReceiveTimeout = (int)AnswerWait.TotalMilliseconds;
            }

            try
            {
                Span<byte> header = stackalloc byte[DiagnosticsIpc.HeaderSize];
                connection.ReadExactly(header);
            }
            catch (Exception exception) when (exception is IOException or SocketException)
            {
                // Gone or silent: closing is all that is left.
            }
        }
    }

    [UnsafeAccessor(UnsafeAccessorKind.Constructor)]
    [return: UnsafeAccessorType($"{Library}.DiagnosticPortIpcEndpoint, {Library}")]
    private static extern object NewPortEndpoint(string config);

    [UnsafeAccessor(UnsafeAccessorKind.Constructor)]
    [return: UnsafeAccessorType($"{Library}.PidIpcEndpoint, {Library}")]
    private static extern object NewPidEndpoint(int pid);

    [UnsafeAccessor(UnsafeAccessorKind.Constructor)]
    private static extern DiagnosticsClient NewClient([UnsafeAccessorType($"{Library}.IpcEndpoint, {Library}")] object endpoint);

    /// <summary>A new connection to the runtime's diagnostics server, as each of the client's commands opens one.</summary>
    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "Connect")]
    private static extern Stream Connect([UnsafeAccessorType($"{Library}.IpcEndpoint, {Library}")] object endpoint, TimeSpan timeout);

    [UnsafeAccessor(UnsafeAccessorKind.Field, Name = "_sessionId")]
    private static extern ref ulong SessionId(EventPipeSession session);

    [UnsafeAccessor(UnsafeAccessorKind.Field, Name = "_stopped")]
    private static extern ref bool Stopped(EventPipeSession session);
}
