using System.Buffers.Binary;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using Crac.Interop;

namespace Crac.Runtime;

/// <summary>
/// Asks this process's own runtime, through its diagnostics server, to attach a profiler: the
/// only way a running .NET process can load one (dotnet-trace's DiagnosticsClient.AttachProfiler
/// sends the same message). The server handles it on its own native thread and answers with
/// the HRESULT of the profiler's InitializeForAttach.
/// </summary>
internal static class ProfilerAttach
{

    /// <summary>Attaches the profiler at <paramref name="path"/>; returns the runtime's HRESULT (0 when attached).</summary>
    /// <exception cref="IOException">The diagnostics server cannot be reached (DOTNET_EnableDiagnostics=0) or answered something else.</exception>
    public static int Attach(Guid clsid, string path, TimeSpan timeout)
    {
        string socketPath = OwnSocket()
            ?? throw new IOException($"this process has no diagnostics socket (dotnet-diagnostic-{Environment.ProcessId}-*-socket): is DOTNET_EnableDiagnostics=0?");

        byte[] message = Build(clsid, path, (uint)Math.Ceiling(timeout.TotalSeconds));
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        socket.ReceiveTimeout = (int)timeout.TotalMilliseconds;
        socket.SendTimeout = (int)timeout.TotalMilliseconds;
        socket.Connect(new UnixDomainSocketEndPoint(socketPath));
        socket.Send(message);

        byte[] reply = new byte[DiagnosticsIpc.HeaderSize + 4];
        int received = 0;
        while (received < reply.Length)
        {
            int read = socket.Receive(reply, received, reply.Length - received, SocketFlags.None);
            if (read == 0)
            {
                throw new IOException($"the diagnostics server closed the connection after {received} bytes of its answer to AttachProfiler.");
            }

            received += read;
        }

        if (!DiagnosticsIpc.IsServerResponse(reply))
        {
            throw new IOException("the diagnostics server answered AttachProfiler with a message that is not a server response.");
        }

        // OK carries the HRESULT of the attach (0); Error carries the failure's HRESULT.
        int hresult = BinaryPrimitives.ReadInt32LittleEndian(reply.AsSpan(DiagnosticsIpc.HeaderSize));
        return reply[17] == DiagnosticsIpc.ServerOk ? hresult : (hresult == 0 ? unchecked((int)0x80004005) : hresult);
    }

    /// <summary>The header, then: timeout in seconds, the CLSID, the path (length with the NUL, UTF-16), no client data.</summary>
    internal static byte[] Build(Guid clsid, string path, uint timeoutSeconds)
    {
        byte[] pathBytes = Encoding.Unicode.GetBytes(path + "\0");
        byte[] payload = new byte[4 + 16 + 4 + pathBytes.Length + 4];
        Span<byte> span = payload;
        BinaryPrimitives.WriteUInt32LittleEndian(span, timeoutSeconds);
        int offset = 4;
        clsid.TryWriteBytes(span[offset..]);
        offset += 16;
        BinaryPrimitives.WriteUInt32LittleEndian(span[offset..], (uint)(path.Length + 1));
        offset += 4;
        pathBytes.CopyTo(span[offset..]);
        offset += pathBytes.Length;
        BinaryPrimitives.WriteUInt32LittleEndian(span[offset..], 0);
        try
        {
            return DiagnosticsIpc.Message(DiagnosticsIpc.ProfilerCommandSet, DiagnosticsIpc.AttachProfilerCommand, payload);
        }
        catch (ArgumentException)
        {
            throw new ArgumentException($"the profiler path is too long for one diagnostics message: {path}", nameof(path));
        }
    }

    /// <summary>The diagnostics socket this process listens on (a stale file of an earlier process with this pid is not it).</summary>
    private static string? OwnSocket()
    {
        string directory = Path.GetTempPath();
        string[] candidates = Directory.GetFiles(directory, DiagnosticsSocket.SearchPattern(Environment.ProcessId));
        if (candidates.Length <= 1)
        {
            return candidates.FirstOrDefault();
        }

        HashSet<ulong>? held = Procfs.ReadSocketInodes(Environment.ProcessId);
        string? listening = Procfs.ReadUnixSockets(Environment.ProcessId)
            .Where(s => s.IsListening && held?.Contains(s.Inode) == true && DiagnosticsSocket.BelongsTo(s.Path, Environment.ProcessId))
            .Select(s => s.Path)
            .FirstOrDefault();
        return listening ?? candidates.OrderByDescending(File.GetLastWriteTimeUtc).First();
    }

    public static string Describe(int hresult) => hresult switch
    {
        0 => "attached",
        unchecked((int)0x80131367) => "another profiler is already attached, and the runtime loads one attaching profiler at a time (CORPROF_E_PROFILER_ALREADY_ACTIVE)",
        unchecked((int)0x80004002) => "the runtime lacks ICorProfilerInfo15 (it needs .NET 10 or later)",
        _ => string.Create(CultureInfo.InvariantCulture, $"HRESULT 0x{hresult:X8}"),
    };
}
