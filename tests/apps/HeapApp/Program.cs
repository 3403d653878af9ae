using System.Diagnostics;
using System.Globalization;
using System.Runtime;

// A benchmark-only ASP.NET app, unmodified for CRaC (the agent comes by startup hook), that
// holds what the image-size, large-image and keep-running benchmarks need:
//   --live-mb N     N MB of live data on the managed heap (reachable until the process ends);
//   --garbage-mb N  N MB of unreachable objects still on the heap at checkpoint time;
// and a thread that ticks every millisecond and remembers its longest gap, so a benchmark can
// see how long a checkpoint froze the app: GET /stall returns that gap in ms and resets it;
// GET /checksum hashes the live data (the lazy-restore test compares it across a restore).
int liveMegabytes = Option("--live-mb");
int garbageMegabytes = Option("--garbage-mb");

// Chunks under the large-object threshold, so they live on the ordinary (compactable) heap, and
// filled, so every page is resident and in an image (the runtime hands out zeroed pages untouched).
const int ChunkBytes = 64 * 1024;
List<byte[]> live = Fill(liveMegabytes);
if (garbageMegabytes > 0)
{
    // Inside a no-GC region nothing is collected while the garbage is made; after it ends, the
    // next collection would free it, and an idle app does not run one before the checkpoint.
    if (!GC.TryStartNoGCRegion((garbageMegabytes + 16) * 1024L * 1024L))
    {
        throw new InvalidOperationException("Could not start a no-GC region for the garbage.");
    }

    _ = Fill(garbageMegabytes);
    GC.EndNoGCRegion();
}

// The ticker and /stall share the last tick under a lock, so a gap still open when /stall is read
// (the ticker not yet run since the app was thawed) is counted, and not carried into the next read.
var gate = new object();
long lastTick = Stopwatch.GetTimestamp();
double longestGap = 0;
var ticker = new Thread(() =>
{
    while (true)
    {
        Thread.Sleep(1);
        lock (gate)
        {
            longestGap = Math.Max(longestGap, CloseGap());
        }
    }
}) { IsBackground = true, Name = "stall ticker" };
ticker.Start();

var builder = WebApplication.CreateBuilder(args);
builder.Logging.ClearProviders();
var app = builder.Build();
app.MapGet("/", () => $"hello from {Environment.ProcessId}, holding {live.Count * (long)ChunkBytes / 1048576} MB\n");
app.MapGet("/stall", () =>
{
    lock (gate)
    {
        double longest = Math.Max(longestGap, CloseGap());
        longestGap = 0;
        return longest.ToString("0.000", CultureInfo.InvariantCulture);
    }
});
app.MapGet("/heap", () => $"{GC.GetGCMemoryInfo().HeapSizeBytes / 1048576} MB heap, {GCSettings.IsServerGC}\n");
// A hash of every live byte: the same before a checkpoint and after a restore when all the memory came back.
app.MapGet("/checksum", () =>
{
    using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
    live.ForEach(hash.AppendData);
    return Convert.ToHexStringLower(hash.GetHashAndReset());
});
app.Start();
Console.WriteLine($"ready pid={Environment.ProcessId}");
app.WaitForShutdown();

// The time since the last tick (or read), in ms; the next gap starts now. Called under the lock.
double CloseGap()
{
    long now = Stopwatch.GetTimestamp();
    double gap = Stopwatch.GetElapsedTime(lastTick, now).TotalMilliseconds;
    lastTick = now;
    return gap;
}

static List<byte[]> Fill(int megabytes)
{
    var chunks = new List<byte[]>();
    for (long made = 0; made < megabytes * 1024L * 1024L; made += ChunkBytes)
    {
        var chunk = new byte[ChunkBytes];
        Random.Shared.NextBytes(chunk);
        chunks.Add(chunk);
    }

    return chunks;
}

int Option(string name)
{
    int at = Array.IndexOf(args, name);
    return at >= 0 && at + 1 < args.Length ? int.Parse(args[at + 1], CultureInfo.InvariantCulture) : 0;
}
