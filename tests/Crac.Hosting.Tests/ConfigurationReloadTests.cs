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
}
