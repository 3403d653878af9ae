using System.Net.Sockets;
using Crac.Interop;

namespace Crac.Tests;

/// <summary>
/// The pieces that let the tool hang up a session without waiting for the runtime's answer: the
/// StopTracing message, the wait until the runtime has read it, and the check that tells a
/// connection whose client hung up (CRIU dumps it) from a live one (CRIU refuses it).
/// </summary>
[TestClass]
public sealed class DiagnosticsIpcTests
{
    [TestMethod]
    public void TheStopMessageIsTheDiagnosticsProtocolsStopTracing()
    {
        byte[] message = DiagnosticsIpc.StopTracing(0x0102030405060708);

        Assert.AreEqual("DOTNET_IPC_V1\0", System.Text.Encoding.ASCII.GetString(message, 0, 14));
        Assert.AreEqual(28, BitConverter.ToUInt16(message, 14), "the whole message's size");
        Assert.AreEqual(0x02, message[16], "the EventPipe command set");
        Assert.AreEqual(0x01, message[17], "StopTracing");
        Assert.AreEqual(0, BitConverter.ToUInt16(message, 18), "reserved");
        Assert.AreEqual(0x0102030405060708UL, BitConverter.ToUInt64(message, 20), "the session id, little-endian");
        Assert.AreEqual(28, message.Length);
    }

    [TestMethod]
    public void WaitingUntilReadEndsWhenTheOtherEndHasReadEverything()
    {
        (Socket client, Socket server) = ConnectedPair();
        using (client)
        using (server)
        {
            client.Send(DiagnosticsIpc.StopTracing(7));
            Assert.IsFalse(DiagnosticsIpc.WaitUntilRead(client, TimeSpan.FromMilliseconds(30)), "nothing was read yet");

            byte[] buffer = new byte[20];
            Assert.AreEqual(20, server.Receive(buffer));
            Assert.IsFalse(DiagnosticsIpc.WaitUntilRead(client, TimeSpan.FromMilliseconds(30)), "the payload is still unread");

            Assert.AreEqual(8, server.Receive(buffer));
            Assert.IsTrue(DiagnosticsIpc.WaitUntilRead(client, TimeSpan.FromSeconds(5)));
        }
    }

    [TestMethod]
    public void AConnectionWhoseClientHungUpIsToldFromALiveOne()
    {
        (Socket client, Socket server) = ConnectedPair();
        using (server)
        {
            int fd = (int)server.Handle;
            Assert.IsFalse(ForeignSocket.PeerHasHungUp(Environment.ProcessId, fd), "the client is still connected");

            client.Send([1, 2, 3]);
            Assert.IsFalse(ForeignSocket.PeerHasHungUp(Environment.ProcessId, fd), "data waiting is not a hang-up");

            client.Dispose();
            Assert.IsTrue(ForeignSocket.PeerHasHungUp(Environment.ProcessId, fd), "the client closed its end");
        }
    }

    [TestMethod]
    public void AnFdThatCannotBeCopiedIsNotJudged() =>
        Assert.IsNull(ForeignSocket.PeerHasHungUp(Environment.ProcessId, 1_000_000));

    private static (Socket Client, Socket Server) ConnectedPair()
    {
        string path = Path.Combine(Path.GetTempPath(), $"crac-ipc-test-{Guid.NewGuid():N}.sock");
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen(1);
        var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        client.Connect(new UnixDomainSocketEndPoint(path));
        Socket server = listener.Accept();
        File.Delete(path);
        return (client, server);
    }
}
