using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

// ConfigReload <settings.json>: a hosted service prints Greeting:Text whenever the file changes.
HostApplicationBuilder builder = Host.CreateApplicationBuilder();
builder.Configuration.AddJsonFile(Path.GetFullPath(args[0]), optional: false, reloadOnChange: true);
builder.Services.Configure<Greeting>(builder.Configuration.GetSection("Greeting"));
builder.Services.AddHostedService<GreetingPrinter>();
await builder.Build().RunAsync();

internal sealed class Greeting
{
    public string Text { get; set; } = string.Empty;
}

internal sealed class GreetingPrinter(IOptionsMonitor<Greeting> greeting) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using IDisposable? subscription = greeting.OnChange(g => Console.WriteLine($"greeting={g.Text}"));
        Console.WriteLine($"greeting={greeting.CurrentValue.Text}");
        Console.WriteLine($"ready pid={Environment.ProcessId}");
        await Task.Delay(Timeout.Infinite, stoppingToken);
    }
}
