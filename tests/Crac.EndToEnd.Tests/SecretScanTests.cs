using System.Buffers.Binary;
using System.Reflection;
using System.Text;
using Crac.Runtime;
using Crac.Tool.Inspect;
using Crac.Tool.Output;
using Crac.EndToEnd.Tests.Infrastructure;

namespace Crac.EndToEnd.Tests;

/// <summary>
/// In-process tests of the pieces under inspect --secrets and the Random reseed: the patterns
/// against secrets and look-alikes, the CRIU image maps against a hand-built image, and the heap
/// walk on this test process (the profiler attached to it, as the agent attaches it).
/// </summary>
[TestClass]
public sealed class SecretScanTests
{
    [TestMethod]
    [DataRow("private key block (PEM)", "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n")]
    [DataRow("private key block (PEM)", "-----BEGIN RSA PRIVATE KEY-----\r\nMIIEowIBAAKCAQEAuQ2Zt9Qq8vJ0ZgW3dW8cQz4lZ0c6m1rX0f0k9lQeW8wY2aJk\r\n")]
    [DataRow("connection string with a password", "Server=db;User Id=sa;Password=Sup3rS3cret!;Encrypt=true")]
    [DataRow("connection string with a password", "Host=h;Username=u;PWD='quoted secret';")]
    [DataRow("URL with a password", "postgres://app:hunter22@db.internal:5432/orders")]
    [DataRow("bearer token", "Authorization: Bearer abcdefghijklmnopqrstuvwxyz0123456789")]
    [DataRow("JSON web token", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U")]
    [DataRow("AWS access key id", "aws id AKIAIOSFODNN7EXAMPLE here")]
    [DataRow("AWS secret access key", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")]
    [DataRow("Azure storage account key", "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;")]
    [DataRow("GitHub token", "token ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789 end")]
    [DataRow("Slack token", "xoxb-123456789012-abcdefghijkl")]
    [DataRow("Stripe live key", "sk_live_4eC39HqLyjWDarjtT1zdp7dc")]
    [DataRow("Google API key", "AIzaSyA-1234567890abcdefghijklmnopqrstu")]
    [DataRow("client secret or API key assignment", "\"client_secret\": \"8Q~aBcDeFgHiJkLmNoPqRsTuVwXyZ0123\"")]
    public void EachKindIsRecognised(string kind, string text)
    {
        SecretPatterns.Kind pattern = SecretPatterns.All.Single(k => k.Name == kind);
        Assert.IsTrue(pattern.Pattern.IsMatch(text), $"{kind} not found in: {text}");
    }

    [TestMethod]
    [DataRow("-----BEGIN PRIVATE KEY-----")]
    [DataRow("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----")]
    [DataRow("Password=;")]
    [DataRow("Password={0};User={1}")]
    [DataRow("Password=***;")]
    [DataRow("Password=<your password>")]
    [DataRow("https://example.com/path")]
    [DataRow("Bearer ")]
    [DataRow("Authorization: Bearer {token}")]
    [DataRow("The password policy requires 12 characters.")]
    public void LabelsAndPlaceholdersAreNotSecrets(string text)
    {
        string[] matched = [.. SecretPatterns.All.Where(k => k.Pattern.IsMatch(text)).Select(k => k.Name)];
        Assert.AreEqual(0, matched.Length, $"'{text}' matched {string.Join(", ", matched)}");
    }

    [TestMethod]
    public void AScanOfAHandBuiltImageFindsSecretsInBothEncodingsAndMapsThemToTheirMemory()
    {
        string directory = Directory.CreateTempSubdirectory("crac-scan-").FullName;
        try
        {
            // Two pages of process 42's heap at 0x7f0000000000, then one of its stack at 0x7ffc00000000.
            byte[] pages = new byte[3 * 4096];
            Encoding.UTF8.GetBytes("Password=Sup3rS3cret!;").CopyTo(pages, 100);
            Encoding.Unicode.GetBytes("Authorization: Bearer abcdefghijklmnopqrstuvwxyz0123456789").CopyTo(pages, 4096 + 200);
            Encoding.Unicode.GetBytes("Password=Sup3rS3cret!;").CopyTo(pages, 2 * 4096 + 64);
            File.WriteAllBytes(Path.Combine(directory, "pages-1.img"), pages);
            WriteImage(Path.Combine(directory, "pagemap-42.img"),
                Message(Varint(1, 1)),
                Message(Varint(1, 0x7f0000000000), Varint(2, 0), Varint(4, 4), Varint(5, 2)),
                Message(Varint(1, 0x7f0000100000), Varint(2, 1), Varint(4, 2)),
                Message(Varint(1, 0x7ffc00000000), Varint(2, 1), Varint(4, 4)));
            WriteImage(Path.Combine(directory, "mm-42.img"), Message(
                Bytes(14, Message(Varint(1, 0x7f0000000000), Varint(2, 0x7f0000200000), Varint(4, 0), Varint(7, (1 << 0) | (1 << 9)))),
                Bytes(14, Message(Varint(1, 0x7ffc00000000), Varint(2, 0x7ffc00021000), Varint(4, 0), Varint(7, (1 << 0) | (1 << 1))))));

            SecretScan scan = SecretScanner.Scan(CriuImageMemory.Read(directory));

            SecretFinding password = scan.Findings.Single(f => f.Kind == "connection string with a password");
            Assert.AreEqual(2, password.Copies, "the same value as UTF-8 and as UTF-16 is one secret with two copies");
            Assert.AreEqual("ASCII/UTF-8, UTF-16", password.Encoding);
            SecretLocation heap = password.Locations.Single(l => l.Offset == 100);
            Assert.AreEqual(42, heap.Pid);
            Assert.AreEqual("0x7f0000000064", heap.Address);
            StringAssert.StartsWith(heap.Region, "anonymous memory");
            SecretLocation stack = password.Locations.Single(l => l.Offset == (2 * 4096) + 64);
            Assert.AreEqual("0x7ffc00000040", stack.Address, "the lazy run is not in the file: the third page is the stack's");
            StringAssert.StartsWith(stack.Region, "a thread stack");
            SecretFinding bearer = scan.Findings.Single(f => f.Kind == "bearer token");
            Assert.AreEqual("UTF-16", bearer.Encoding);
            Assert.AreEqual("0x7f00000010e6", bearer.Locations.Single().Address, "the match starts at \"Bearer\", 15 UTF-16 characters into the header");
            string text = InspectText.Render(new InspectReport(directory, new ImageSummary("criu", 42, DateTimeOffset.UnixEpoch, ".NET", ["app"], 0, null, 1, pages.Length)) { Secrets = scan });
            Assert.IsFalse(text.Contains("Sup3rS3cret", StringComparison.Ordinal) || text.Contains("abcdefghijkl", StringComparison.Ordinal), text);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [TestMethod]
    public void ATruncatedImageFileIsRefusedWithWhereItEnds()
    {
        string directory = Directory.CreateTempSubdirectory("crac-scan-").FullName;
        try
        {
            string pagemap = Path.Combine(directory, "pagemap-42.img");
            WriteImage(pagemap, Message(Varint(1, 1)));
            File.AppendAllBytes(pagemap, [0xFF, 0, 0, 0, 1]);
            InvalidDataException failure = Assert.ThrowsExactly<InvalidDataException>(() => CriuImageMemory.Read(directory));
            StringAssert.Contains(failure.Message, "is truncated: an entry of 255 bytes");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [TestMethod]
    public void TheHeapWalkReseedsUnseededGeneratorsAndCountsSeededOnes()
    {
        HeapWalk.AgentDirectory = Path.GetDirectoryName(Paths.Agent);
        Assert.IsNull(HeapWalk.EnsureAttached(), HeapWalk.Unavailable);
        var unseeded = new Random();
        var seeded = new Random(7);
        ulong[] before = State(unseeded);
        Type xoshiro = typeof(Random).GetNestedType("XoshiroImpl", BindingFlags.NonPublic)!;
        Type seededImpl = typeof(Random).GetNestedType("CompatSeedImpl", BindingFlags.NonPublic)!;

        WalkResult walk = HeapWalk.Run(xoshiro, 32, [seededImpl]);

        CollectionAssert.AreNotEqual(before, State(unseeded), "the unseeded generator's state was not replaced");
        Assert.IsTrue(walk.Reseeded >= 1, $"{walk}");
        Assert.IsTrue(walk.Counts[0] >= 1, "the seeded generator was not counted");
        Assert.AreEqual(0, walk.Failures);
        Assert.IsTrue(walk.Objects > 1_000, $"{walk.Objects} objects: the walk did not cover the heap");
        int next = unseeded.Next();
        Assert.IsTrue(next >= 0, "the generator still works after its state was replaced");
        GC.KeepAlive(seeded);
    }

    private static ulong[] State(Random random)
    {
        object impl = typeof(Random).GetField("_impl", BindingFlags.Instance | BindingFlags.NonPublic)!.GetValue(random)!;
        return [.. impl.GetType().GetFields(BindingFlags.Instance | BindingFlags.NonPublic).Select(f => (ulong)f.GetValue(impl)!)];
    }

    private static void WriteImage(string path, params byte[][] entries)
    {
        using var stream = File.Create(path);
        stream.Write(BitConverter.GetBytes(0x54564319u));
        stream.Write(BitConverter.GetBytes(0x56084025u));
        foreach (byte[] entry in entries)
        {
            byte[] length = new byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(length, (uint)entry.Length);
            stream.Write(length);
            stream.Write(entry);
        }
    }

    private static byte[] Message(params byte[][] fields) => [.. fields.SelectMany(f => f)];

    private static byte[] Varint(int field, ulong value) => [.. Encode((ulong)(field << 3)), .. Encode(value)];

    private static byte[] Bytes(int field, byte[] value) => [.. Encode((ulong)((field << 3) | 2)), .. Encode((ulong)value.Length), .. value];

    private static byte[] Encode(ulong value)
    {
        var bytes = new List<byte>();
        do
        {
            byte b = (byte)(value & 0x7F);
            value >>= 7;
            bytes.Add(value == 0 ? b : (byte)(b | 0x80));
        }
        while (value != 0);
        return [.. bytes];
    }
}
