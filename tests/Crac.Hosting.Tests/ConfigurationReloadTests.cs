using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Crac.Hosting.Tests;

[TestClass]
public sealed class ConfigurationReloadTests
{
    private sealed class Settings
    {
        public string? Greeting { get; set; }
    }

    [TestMethod]
    public async Task AfterARestoreTheHostsConfigurationReadsTheEnvironmentAgainAndOptionsMonitorsSeeIt()
    {
        string name = $"CRAC_TEST_RELOAD_{Guid.NewGuid():N}";
        Environment.SetEnvironmentVariable($"{name}__Greeting", "from-checkpoint");
        try
        {
            HostApplicationBuilder builder = Host.CreateApplicationBuilder();
            builder.Configuration.AddEnvironmentVariables();
            builder.Services.Configure<Settings>(builder.Configuration.GetSection(name));
            builder.Services.AddCrac();
            using IHost host = builder.Build();
            await host.StartAsync();
            var monitor = host.Services.GetRequiredService<IOptionsMonitor<Settings>>();
            var configuration = host.Services.GetRequiredService<IConfiguration>();
            Assert.AreEqual("from-checkpoint", monitor.CurrentValue.Greeting);

            // The restorer's environment, as the coordinator applies it before after-restore.
            Environment.SetEnvironmentVariable($"{name}__Greeting", "from-restore");
            Assert.AreEqual("from-checkpoint", configuration[$"{name}:Greeting"], "configuration is read at start-up: without a reload it keeps the old value");
            Coordination.CheckpointReport report = await Checkpoints.SimulateAsync();

            Assert.AreEqual(Coordination.CheckpointOutcome.Restored, report.Outcome, Checkpoints.Describe(report));
            Assert.AreEqual("from-restore", configuration[$"{name}:Greeting"]);
            Assert.AreEqual("from-restore", monitor.CurrentValue.Greeting, "IOptionsMonitor follows the reload");
            StringAssert.Contains(Checkpoints.Describe(report), "restore fidelity: configuration: fixed: reloaded");
            await host.StopAsync();
        }
        finally
        {
            Environment.SetEnvironmentVariable($"{name}__Greeting", null);
        }
    }

    [TestMethod]
    public async Task AConfigurationWhoseEnvironmentAndFilesAreUnchangedIsNotReloadedAndSaysWhatItCompared()
    {
        using var directory = new TemporaryDirectory();
        File.WriteAllText(Path.Combine(directory.Path, "settings.json"), """{ "Section": { "Greeting": "from-file" } }""");
        using IHost host = BuildHost(directory.Path, configure: null);
        await host.StartAsync();
        var monitor = host.Services.GetRequiredService<IOptionsMonitor<Settings>>();
        int changes = 0;
        using IDisposable? listener = monitor.OnChange(_ => Interlocked.Increment(ref changes));

        Coordination.CheckpointReport report = await Checkpoints.SimulateAsync();

        Assert.AreEqual(Coordination.CheckpointOutcome.Restored, report.Outcome, Checkpoints.Describe(report));
        Assert.AreEqual(0, changes, "nothing the configuration reads changed: IOptionsMonitor must not be told");
        StringAssert.Contains(Checkpoints.Describe(report), "not reloaded");
        StringAssert.Contains(Checkpoints.Describe(report), "the environment and 2 files compared", "settings.json and the optional absent.json");
        await host.StopAsync();
    }

    [TestMethod]
    public async Task WhenOnlyTheShellsOwnVariablesDifferTheyAreReadAgainWithoutTellingAnyone()
    {
        using var directory = new TemporaryDirectory();
        File.WriteAllText(Path.Combine(directory.Path, "settings.json"), """{ "Section": { "Greeting": "from-file" } }""");
        string? shellLevel = Environment.GetEnvironmentVariable("SHLVL");
        try
        {
            Environment.SetEnvironmentVariable("SHLVL", "1");
            using IHost host = BuildHost(directory.Path, configure: null);
            await host.StartAsync();
            var monitor = host.Services.GetRequiredService<IOptionsMonitor<Settings>>();
            var configuration = host.Services.GetRequiredService<IConfiguration>();
            int changes = 0;
            using IDisposable? listener = monitor.OnChange(_ => Interlocked.Increment(ref changes));

            // A restore from a nested shell.
            Environment.SetEnvironmentVariable("SHLVL", "2");
            Coordination.CheckpointReport report = await Checkpoints.SimulateAsync();

            Assert.AreEqual(Coordination.CheckpointOutcome.Restored, report.Outcome, Checkpoints.Describe(report));
            Assert.AreEqual("2", configuration["SHLVL"], "the environment providers read the variables again");
            Assert.AreEqual(0, changes, "only the shell's own variable changed: IOptionsMonitor must not be told");
            StringAssert.Contains(Checkpoints.Describe(report), "only the shell's own variables differ (SHLVL)");
            await host.StopAsync();
        }
        finally
        {
            Environment.SetEnvironmentVariable("SHLVL", shellLevel);
        }
    }

    [TestMethod]
    public async Task AConfigurationFileChangedOnDiskIsReloadedAfterTheRestoreAndTheReportNamesIt()
    {
        using var directory = new TemporaryDirectory();
        string file = Path.Combine(directory.Path, "settings.json");
        File.WriteAllText(file, """{ "Section": { "Greeting": "from-checkpoint" } }""");
        using IHost host = BuildHost(directory.Path, configure: null);
        await host.StartAsync();
        var monitor = host.Services.GetRequiredService<IOptionsMonitor<Settings>>();

        // The restoring host's file (the same size, so only the bytes tell).
        File.WriteAllText(file, """{ "Section": { "Greeting": "from-restore.." } }""");
        Coordination.CheckpointReport report = await Checkpoints.SimulateAsync();

        Assert.AreEqual(Coordination.CheckpointOutcome.Restored, report.Outcome, Checkpoints.Describe(report));
        Assert.AreEqual("from-restore..", monitor.CurrentValue.Greeting);
        StringAssert.Contains(Checkpoints.Describe(report), "settings.json changed");
        StringAssert.Contains(Checkpoints.Describe(report), "restore fidelity: configuration: fixed: reloaded the configuration of");
        await host.StopAsync();
    }

    [TestMethod]
    public async Task AConfigurationWithAProviderThatCannotBeComparedIsAlwaysReloaded()
    {
        using var directory = new TemporaryDirectory();
        File.WriteAllText(Path.Combine(directory.Path, "settings.json"), "{}");
        var store = new Dictionary<string, string?> { ["Section:Greeting"] = "from-checkpoint" };
        using IHost host = BuildHost(directory.Path, configuration => configuration.Add(new StoreSource(store)));
        await host.StartAsync();
        var monitor = host.Services.GetRequiredService<IOptionsMonitor<Settings>>();

        // A secret store whose value changed while the image waited.
        store["Section:Greeting"] = "from-restore";
        Coordination.CheckpointReport report = await Checkpoints.SimulateAsync();

        Assert.AreEqual(Coordination.CheckpointOutcome.Restored, report.Outcome, Checkpoints.Describe(report));
        Assert.AreEqual("from-restore", monitor.CurrentValue.Greeting);
        StringAssert.Contains(Checkpoints.Describe(report), "StoreProvider cannot be compared");
        await host.StopAsync();
    }

    private static IHost BuildHost(string directory, Action<IConfigurationBuilder>? configure)
    {
        HostApplicationBuilder builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = directory, DisableDefaults = true });
        builder.Configuration.AddEnvironmentVariables();
        // Optional: an earlier test's host may outlive its test, and its directory, until a collection.
        builder.Configuration.AddJsonFile("settings.json", optional: true, reloadOnChange: false);
        builder.Configuration.AddJsonFile("absent.json", optional: true, reloadOnChange: false);
        configure?.Invoke(builder.Configuration);
        builder.Services.Configure<Settings>(builder.Configuration.GetSection("Section"));
        builder.Services.AddCrac();
        return builder.Build();
    }

    private sealed class StoreSource(Dictionary<string, string?> store) : IConfigurationSource
    {
        public IConfigurationProvider Build(IConfigurationBuilder builder) => new StoreProvider(store);
    }

    private sealed class StoreProvider(Dictionary<string, string?> store) : ConfigurationProvider
    {
        public override void Load() => Data = new Dictionary<string, string?>(store, StringComparer.OrdinalIgnoreCase);
    }

    private sealed class TemporaryDirectory : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("crac-config-").FullName;

        public void Dispose() => Directory.Delete(Path, recursive: true);
    }
}
