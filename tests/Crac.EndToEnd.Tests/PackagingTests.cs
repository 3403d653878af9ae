using System.Diagnostics;
using System.Text.RegularExpressions;
using Crac.EndToEnd.Tests.Infrastructure;

namespace Crac.EndToEnd.Tests;

/// <summary>
/// The two ways users get dotnet-crac: the global tool from its package (which carries the
/// agent), and the Crac package, which loads the agent into an app that references it.
/// </summary>
[TestClass]
public sealed class PackagingTests
{
    private static string _packages = string.Empty;
    private static string _scratch = string.Empty;

    [ClassInitialize]
    public static void Pack(TestContext context)
    {
        _scratch = Directory.CreateTempSubdirectory("crac-packaging-").FullName;
        _packages = Path.Combine(_scratch, "packages");
        Dotnet(Paths.RepositoryRoot, "pack", Path.Combine(Paths.RepositoryRoot, "agent", "Crac.Agent"), "-c", Paths.Configuration, "-o", _packages);
        // The tool as it is published: a pointer package, the native linux-x64 package (what
        // `dotnet tool install` picks here) and the framework-dependent one for other platforms.
        string tool = Path.Combine(Paths.RepositoryRoot, "tool", "dotnet-crac");
        Dotnet(Paths.RepositoryRoot, "pack", tool, "-c", Paths.Configuration, "-o", _packages);
        Dotnet(Paths.RepositoryRoot, "pack", tool, "-c", Paths.Configuration, "-r", "linux-x64", "-o", _packages);
        Dotnet(Paths.RepositoryRoot, "pack", tool, "-c", Paths.Configuration, "-r", "any", "-o", _packages);
        Dotnet(Paths.RepositoryRoot, "pack", Path.Combine(Paths.RepositoryRoot, "src", "Crac.Hosting"), "-c", Paths.Configuration, "-o", _packages);
        Dotnet(Paths.RepositoryRoot, "pack", Path.Combine(Paths.RepositoryRoot, "src", "Crac.AspNetCore"), "-c", Paths.Configuration, "-o", _packages);
    }

    [ClassCleanup]
    public static void Clean() => Directory.Delete(_scratch, recursive: true);

    [TestMethod]
    public async Task TheToolPackageInstallsAsDotnetCracAndItsRunCommandInjectsTheAgentItCarries()
    {
        string tools = Path.Combine(_scratch, "tools");
        Dotnet(_scratch, "tool", "install", "dotnet-crac", "--tool-path", tools, "--add-source", _packages, "--version", "0.1.0");
        var environment = new Dictionary<string, string?> { ["PATH"] = $"{tools}:{Environment.GetEnvironmentVariable("PATH")}", ["CRAC_CRIU_PATH"] = Paths.Criu };

        // The native tool was installed, not the framework-dependent one.
        string installed = Directory.GetFiles(Path.Combine(tools, ".store"), "dotnet-crac", SearchOption.AllDirectories).Single();
        byte[] header = File.ReadAllBytes(installed)[..4];
        CollectionAssert.AreEqual(new byte[] { 0x7f, (byte)'E', (byte)'L', (byte)'F' }, header, $"{installed} is a native executable");
        Assert.IsFalse(File.Exists(Path.Combine(Path.GetDirectoryName(installed)!, "dotnet-crac.dll")), "no IL entry assembly beside the native tool");

        string help = Dotnet(_scratch, environment, "crac", "--help");
        StringAssert.Contains(help, "checkpoint");
        StringAssert.Contains(help, "restore");

        string output = Path.Combine(_scratch, "run.log");
        using Process run = ProcessRunner.Start("dotnet", ["crac", "run", "--", "dotnet", Paths.SampleApp], output, null, environment);
        try
        {
            int pid = await ProcessRunner.WaitForReadyPidAsync(output, "the app started by the installed tool");
            string maps = File.ReadAllText($"/proc/{pid}/maps");
            StringAssert.Contains(maps, Path.Combine(tools, ".store"), "the agent comes from the installed tool package");
            string status = Dotnet(_scratch, environment, "crac", "status", pid.ToString());
            StringAssert.Contains(status, "Checkpointable:       Ready");

            // The installed (native) tool through CRIU and back: its own checks (the CPU's, the image's) ran compiled ahead of time.
            string image = Path.Combine(_scratch, "native-image");
            StringAssert.Contains(Dotnet(_scratch, environment, "crac", "checkpoint", pid.ToString(), "--engine", "criu", "--image-dir", image), "Restore it with");
            await ProcessRunner.WaitUntilAsync(() => !ProcessRunner.IsAlive(pid), TimeSpan.FromSeconds(20), "the checkpointed app to exit");
            // `run` gave the app a pid namespace of its own, so it comes back in a new one, under a new host pid.
            string restored = Dotnet(_scratch, environment, "crac", "restore", image);
            Match restoredPid = Regex.Match(restored, @"^Restored process (\d+) \(SampleApp\) from ");
            Assert.IsTrue(restoredPid.Success, restored);
            Assert.IsTrue(ProcessRunner.IsAlive(int.Parse(restoredPid.Groups[1].Value)), "the restored app runs");
            Process.Start("kill", ["-9", restoredPid.Groups[1].Value])!.WaitForExit();
        }
        finally
        {
            run.Kill(entireProcessTree: true);
        }

        // The hosting integration the agent adds to an unmodified web app travels in the package too.
        TemplateApp web = await TemplateApp.GetAsync("web");
        int port = Loopback.FreePort();
        string webOutput = Path.Combine(_scratch, "web.log");
        using Process webRun = ProcessRunner.Start("dotnet", ["crac", "run", "--", "dotnet", web.Assembly, "--urls", $"http://127.0.0.1:{port}"], webOutput, null, environment);
        try
        {
            await ProcessRunner.WaitUntilAsync(() => ProcessRunner.ReadShared(webOutput).Contains("Now listening on"), TimeSpan.FromSeconds(30), "the web app started by the installed tool");
            int webPid = ProcessRunner.FindByCommandLine("dotnet " + web.Assembly, $"127.0.0.1:{port}");
            Assert.AreNotEqual(0, webPid, "the web app's process");
            string checkpoint = Dotnet(_scratch, environment, "crac", "checkpoint", webPid.ToString());
            StringAssert.Contains(checkpoint, $"kestrel: stopped accepting on 127.0.0.1:{port}");
            StringAssert.Contains(File.ReadAllText($"/proc/{webPid}/maps"), Path.Combine(tools, ".store"), "Crac.AspNetCore comes from the installed tool package");
        }
        finally
        {
            webRun.Kill(entireProcessTree: true);
        }
    }

    [TestMethod]
    public async Task AWebAppThatReferencesCracAspNetCoreAndCallsAddCracGetsTheAgentAndTheDrain()
    {
        string app = Path.Combine(_scratch, "HostedApp");
        Directory.CreateDirectory(app);
        File.WriteAllText(Path.Combine(app, "HostedApp.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk.Web">
              <PropertyGroup>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
                <RestoreAdditionalProjectSources>{_packages}</RestoreAdditionalProjectSources>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="Crac.AspNetCore" Version="0.1.0" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(app, "Program.cs"), """
            var builder = WebApplication.CreateBuilder(args);
            builder.Services.AddCrac();
            var app = builder.Build();
            app.MapGet("/", () => "hello");
            app.Run();
            """);
        Dotnet(app, "build", "-c", "Release", "-o", Path.Combine(app, "out"));
        int port = Loopback.FreePort();
        string output = Path.Combine(app, "run.log");
        using Process process = ProcessRunner.Start("dotnet", [Path.Combine(app, "out", "HostedApp.dll"), "--urls", $"http://127.0.0.1:{port}"], output, null, null);
        try
        {
            await ProcessRunner.WaitUntilAsync(() => ProcessRunner.ReadShared(output).Contains("Now listening on"), TimeSpan.FromSeconds(30), "the app referencing Crac.AspNetCore");

            ToolResult checkpoint = await ToolRun.RunAsync("checkpoint", process.Id.ToString());

            Assert.AreEqual(0, checkpoint.ExitCode, checkpoint.ToString());
            StringAssert.Contains(checkpoint.Stdout, $"kestrel: stopped accepting on 127.0.0.1:{port}");
            StringAssert.Contains(checkpoint.Stdout, "hosting: background work paused");
        }
        finally
        {
            process.Kill(entireProcessTree: true);
        }
    }

    [TestMethod]
    public async Task AnAppThatReferencesTheCracPackageGetsTheAgentWithoutAnyEnvironmentVariable()
    {
        string app = Path.Combine(_scratch, "ReferencingApp");
        Directory.CreateDirectory(app);
        File.WriteAllText(Path.Combine(app, "ReferencingApp.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
                <RestoreAdditionalProjectSources>{_packages}</RestoreAdditionalProjectSources>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="Crac" Version="0.1.0" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(app, "Program.cs"), """
            using Crac;
            var resource = new Resource();
            Core.GlobalContext.Register(resource);
            Console.WriteLine($"ready pid={Environment.ProcessId}");
            Thread.Sleep(Timeout.Infinite);
            sealed class Resource : IResource
            {
                public Task BeforeCheckpointAsync(Context context, CancellationToken token) { Console.WriteLine("before"); return Task.CompletedTask; }
                public Task AfterRestoreAsync(Context context, CancellationToken token) { Console.WriteLine("after"); return Task.CompletedTask; }
            }
            """);
        Dotnet(app, "build", "-c", "Release", "-o", Path.Combine(app, "out"));

        string output = Path.Combine(app, "run.log");
        using Process process = ProcessRunner.Start("dotnet", [Path.Combine(app, "out", "ReferencingApp.dll")], output, null, null);
        try
        {
            await ProcessRunner.WaitUntilAsync(() => File.Exists(output) && File.ReadAllText(output).Contains("ready pid="), TimeSpan.FromSeconds(30), "the referencing app");

            ToolResult checkpoint = await ToolRun.RunAsync("checkpoint", process.Id.ToString());

            Assert.AreEqual(0, checkpoint.ExitCode, checkpoint.ToString());
            await ProcessRunner.WaitUntilAsync(() => File.ReadAllText(output).Contains("after"), TimeSpan.FromSeconds(10), "after-restore in the referencing app");
            StringAssert.Contains(File.ReadAllText(output), "before\nafter\n");
        }
        finally
        {
            process.Kill(entireProcessTree: true);
        }
    }

    private static string Dotnet(string directory, params string[] arguments) => Dotnet(directory, null, arguments);

    private static string Dotnet(string directory, IDictionary<string, string?>? environment, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach ((string name, string? value) in environment ?? new Dictionary<string, string?>())
        {
            start.Environment[name] = value;
        }

        // A private package cache: the packages just packed keep their version number from run
        // to run, and a shared cache would hand out a stale copy.
        start.Environment["NUGET_PACKAGES"] = Path.Combine(_scratch, "nuget-cache");
        using Process process = Process.Start(start)!;
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        // A native pack compiles the whole tool (minutes on two cores): generous, but bounded.
        if (!process.WaitForExit(TimeSpan.FromMinutes(10)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"dotnet {string.Join(' ', arguments)} did not finish within 10 minutes.");
        }

        Assert.AreEqual(0, process.ExitCode, $"dotnet {string.Join(' ', arguments)} failed:\n{stdout.Result}\n{stderr.Result}");
        return stdout.Result;
    }
}
