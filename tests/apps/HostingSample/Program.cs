using System.Diagnostics;
using System.Runtime.CompilerServices;
using Crac;
using Crac.Hosting;
using Npgsql;
using StackExchange.Redis;

// The hosting sample: an ASP.NET Core service with AddCrac(), PostgreSQL through an Npgsql data
// source, Redis through a StackExchange.Redis multiplexer, an outbound HttpClient, and a hosted
// service on a PeriodicTimer. Each dependency is used only when its option is given:
//   --postgres "Host=127.0.0.1;Port=5432;Username=postgres"  --redis 127.0.0.1:6379
//   --outbound http://127.0.0.1:8080/  --ticks-file ticks.log
var builder = WebApplication.CreateBuilder(args);
builder.Logging.ClearProviders();
builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
builder.Services.AddCrac();

string? postgres = builder.Configuration["postgres"];
string? redis = builder.Configuration["redis"];
string? outbound = builder.Configuration["outbound"];
if (postgres is not null)
{
    builder.Services.AddNpgsqlDataSource(postgres);
}

if (redis is not null)
{
    // WithCrac: the multiplexer's connections close before a checkpoint and reconnect after the restore.
    builder.Services.AddSingleton<IConnectionMultiplexer>(_ => ConnectionMultiplexer.Connect(ConfigurationOptions.Parse(redis).WithCrac()));
}

if (outbound is not null)
{
    builder.Services.AddHttpClient("outbound", client => client.BaseAddress = new Uri(outbound));
}

builder.Services.AddSingleton<Visits>();
builder.Services.AddSingleton<TickLog>();
builder.Services.AddHostedService<PeriodicTicker>();
builder.Services.AddHostedService<DelayTicker>();
builder.Services.AddHostedService<TimerTicker>();
builder.Services.AddHostedService<CheckpointTimerTicker>();
var app = builder.Build();

app.MapGet("/", (Visits visits) => $"visit {visits.Next()} generation {Core.Status.Generation} pid {Environment.ProcessId}\n");
app.MapHealthChecks("/health");
if (postgres is not null)
{
    app.MapGet("/db", async (NpgsqlDataSource db) =>
    {
        await using NpgsqlCommand command = db.CreateCommand("select pg_backend_pid()");
        object? backend = await command.ExecuteScalarAsync();
        return $"backend {backend} datasource {RuntimeHelpers.GetHashCode(db)}\n";
    });
}

if (redis is not null)
{
    app.MapGet("/redis", async (IConnectionMultiplexer multiplexer) =>
    {
        long value = await multiplexer.GetDatabase().StringIncrementAsync("hosting-sample:visits");
        return $"incr {value} multiplexer {RuntimeHelpers.GetHashCode(multiplexer)}\n";
    });
}

if (outbound is not null)
{
    app.MapGet("/outbound", async (IHttpClientFactory clients) => "outbound " + await clients.CreateClient("outbound").GetStringAsync(string.Empty));
}

app.Run();

/// <summary>In-memory state the image keeps.</summary>
sealed class Visits
{
    private long _count;

    public long Next() => Interlocked.Increment(ref _count);
}

/// <summary>With --ticks-file, where each ticker writes each tick's kind, monotonic time and generation.</summary>
sealed class TickLog(IConfiguration configuration)
{
    private readonly string? _file = configuration["ticks-file"];
    private readonly Lock _lock = new();

    public void Write(string kind)
    {
        if (_file is not null)
        {
            lock (_lock)
            {
                File.AppendAllText(_file, $"tick {kind} {Stopwatch.GetTimestamp() * 1000 / Stopwatch.Frequency} generation {Core.Status.Generation}\n");
            }
        }
    }
}

/// <summary>A PeriodicTimer loop whose every tick is a unit of BackgroundWork: none runs while a checkpoint is in progress.</summary>
sealed class PeriodicTicker(BackgroundWork work, TickLog log) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            using (await work.BeginAsync(stoppingToken))
            {
                log.Write("periodic");
            }
        }
    }
}

/// <summary>
/// The Crac library's CheckpointPeriodicTimer: the checkpoint waits for the tick in hand, and the
/// schedule restarts one period after the restore, so a held tick is not followed by a kept one.
/// </summary>
sealed class CheckpointTimerTicker(TickLog log) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new CheckpointPeriodicTimer(TimeSpan.FromSeconds(1), "the sample's checkpoint timer");
        Core.GlobalContext.Register(timer);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            log.Write("checkpoint-timer");
        }
    }
}

/// <summary>A Task.Delay loop, each round a unit of BackgroundWork.</summary>
sealed class DelayTicker(BackgroundWork work, TickLog log) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken);
            using (await work.BeginAsync(stoppingToken))
            {
                log.Write("delay");
            }
        }
    }
}

/// <summary>A System.Threading.Timer with a period, its callback left as it is.</summary>
sealed class TimerTicker(TickLog log) : IHostedService, IDisposable
{
    private Timer? _timer;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _timer = new Timer(_ => log.Write("timer"), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => _timer?.DisposeAsync().AsTask() ?? Task.CompletedTask;

    public void Dispose() => _timer?.Dispose();
}
