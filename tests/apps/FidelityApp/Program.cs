// An unmodified application for the restore-fidelity tests: it knows nothing of dotnet-crac.
// It holds the generators an application typically has (Random.Shared used on several threads,
// an unseeded and a seeded Random), runs three 100 ms periodic timers (System.Threading.Timer,
// PeriodicTimer, a Task.Delay loop) that log each tick's wall-clock time, and holds planted
// secrets in the forms a process holds them (strings, UTF-8 bytes). The test drives it through
// files in --command-dir: "sample" appends one line of what it sees now to the report.
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

string report = Argument("--report-file");
string commands = Argument("--command-dir");
string? secretsFile = OptionalArgument("--secrets-file");

object reportLock = new();
var unseeded = new Random();
var seeded = new Random(1234);

// Random.Shared keeps a generator per thread: give the main thread and the pool's threads theirs.
_ = Random.Shared.Next();
Parallel.For(0, 16, _ => Random.Shared.Next());
_ = RandomNumberGenerator.GetBytes(16);

// Planted secrets: a private key in PEM, a connection string with a password, a bearer token as
// an HTTP client would hold it (a string) and send it (UTF-8 bytes).
string privateKey = RSA.Create(2048).ExportPkcs8PrivateKeyPem();
string connectionString = $"Host=db.internal;Username=app;Password={Base64Url(18)};Database=orders";
string bearer = $"Bearer {Base64Url(30)}";
byte[] bearerHeader = Encoding.UTF8.GetBytes($"Authorization: {bearer}\r\n");
if (secretsFile is not null)
{
    File.WriteAllLines(secretsFile, [privateKey.Split('\n')[1], connectionString.Split("Password=")[1].Split(';')[0], bearer["Bearer ".Length..]]);
}

var timer = new Timer(_ => Log("tick timer"), null, 100, 100);
_ = Task.Run(async () =>
{
    using var periodic = new PeriodicTimer(TimeSpan.FromMilliseconds(100));
    while (await periodic.WaitForNextTickAsync())
    {
        Log("tick periodic");
    }
});
_ = Task.Run(async () =>
{
    while (true)
    {
        await Task.Delay(100);
        Log("tick delay");
    }
});

Console.WriteLine($"ready pid={Environment.ProcessId}");
while (true)
{
    string sample = Path.Combine(commands, "sample");
    if (File.Exists(sample))
    {
        File.Delete(sample);
        string pooled = await Task.Run(() => Draw(Random.Shared));
        Log($"sample shared-main={Draw(Random.Shared)} shared-pool={pooled} unseeded={Draw(unseeded)} seeded={Draw(seeded)} " +
            $"rng={Convert.ToHexString(RandomNumberGenerator.GetBytes(16))} guid={Guid.NewGuid():N} tz={TimeZoneInfo.Local.Id} " +
            $"offset={TimeZoneInfo.Local.GetUtcOffset(DateTime.UtcNow).TotalMinutes} memory={GC.GetGCMemoryInfo().TotalAvailableMemoryBytes} " +
            $"secrets={privateKey.Length + connectionString.Length + bearerHeader.Length}");
    }

    Thread.Sleep(20);
}

static string Draw(Random random) => string.Join('-', Enumerable.Range(0, 4).Select(_ => random.Next().ToString(CultureInfo.InvariantCulture)));

void Log(string line)
{
    // Opened and closed each time: a file held open while it grows fails CRIU's second restore.
    string stamped = string.Create(CultureInfo.InvariantCulture, $"{DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()} {Stopwatch.GetTimestamp() / (Stopwatch.Frequency / 1000)} {line}\n");
    lock (reportLock)
    {
        File.AppendAllText(report, stamped);
    }
}

string Argument(string name) => OptionalArgument(name) ?? throw new ArgumentException($"{name} is required");

string? OptionalArgument(string name) => Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : null;

static string Base64Url(int bytes) => Convert.ToBase64String(RandomNumberGenerator.GetBytes(bytes)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
