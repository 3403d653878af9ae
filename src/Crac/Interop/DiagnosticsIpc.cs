using System.Buffers.Binary;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Crac.Interop;

/// <summary>
/// The runtime's diagnostics IPC framing (the "DOTNET_IPC_V1" header), for the two commands
/// dotnet-crac writes itself rather than through Microsoft.Diagnostics.NETCore.Client: the agent's
/// AttachProfiler to its own runtime, and the tool's StopTracing that does not wait for the answer.
/// </summary>
internal static class DiagnosticsIpc
{
    public const int HeaderSize = 20;
    public const byte EventPipeCommandSet = 0x02;
    public const byte StopTracingCommand = 0x01;
    public const byte ProfilerCommandSet = 0x03;
    public const byte AttachProfilerCommand = 0x01;
    public const byte ServerCommandSet = 0xFF;
    public const byte ServerOk = 0x00;

    private static readonly TimeSpan YieldPhase = TimeSpan.FromMilliseconds(0.5);

    private static ReadOnlySpan<byte> Magic => "DOTNET_IPC_V1\0"u8;

    /// <summary>A whole message: magic, total size, command set and id, two reserved bytes, then the payload.</summary>
    public static byte[] Message(byte commandSet, byte commandId, ReadOnlySpan<byte> payload)
    {
        int size = HeaderSize + payload.Length;
        if (size > ushort.MaxValue)
        {
            throw new ArgumentException($"a diagnostics message holds at most {ushort.MaxValue} bytes; this one would hold {size}", nameof(payload));
        }

        byte[] message = new byte[size];
        Magic.CopyTo(message);
        BinaryPrimitives.WriteUInt16LittleEndian(message.AsSpan(14), (ushort)size);
        message[16] = commandSet;
        message[17] = commandId;
        payload.CopyTo(message.AsSpan(HeaderSize));
        return message;
    }

    /// <summary>StopTracing of one EventPipe session, by the id the runtime gave it when it started.</summary>
    public static byte[] StopTracing(ulong sessionId)
    {
        Span<byte> payload = stackalloc byte[sizeof(ulong)];
        BinaryPrimitives.WriteUInt64LittleEndian(payload, sessionId);
        return Message(EventPipeCommandSet, StopTracingCommand, payload);
    }

    /// <summary>Whether a message is a server response (magic, then the server command set).</summary>
    public static bool IsServerResponse(ReadOnlySpan<byte> header) =>
        header.Length >= HeaderSize && header[..Magic.Length].SequenceEqual(Magic) && header[16] == ServerCommandSet;

    /// <summary>
    /// Waits until the other end of a unix stream socket has read everything written to it: the
    /// bytes the kernel still holds for the reader (SIOCOUTQ) are none.
    /// </summary>
    /// <returns>False when they were not read within <paramref name="timeout"/>.</returns>
    public static unsafe bool WaitUntilRead(Socket socket, TimeSpan timeout)
    {
        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        bool added = false;
        SafeHandle handle = socket.SafeHandle;
        try
        {
            handle.DangerousAddRef(ref added);
            int fd = (int)handle.DangerousGetHandle();
            while (true)
            {
                int unread;
                if (Libc.ioctl(fd, Libc.SIOCOUTQ, &unread) != 0)
                {
                    return false;
                }

                if (unread == 0)
                {
                    return true;
                }

                if (stopwatch.Elapsed >= timeout)
                {
                    return false;
                }

                // The reader is usually a thread of another process about to run: yield the CPU to
                // it for the first half millisecond rather than sleep a whole one.
                if (stopwatch.Elapsed < YieldPhase)
                {
                    Thread.Yield();
                }
                else
                {
                    Thread.Sleep(1);
                }
            }
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }
}
