using System.Collections.Concurrent;
using System.Diagnostics;

namespace Crac.EndToEnd.Tests.Infrastructure;

/// <summary>
/// An application made by a `dotnet new` template and left exactly as the template made it: what a
/// new user has. Each template is generated and built once per test run, into
/// artifacts/template-apps/&lt;template&gt;, and shared by every test that asks for it.
/// </summary>
internal sealed class TemplateApp
{
    private static readonly ConcurrentDictionary<string, Lazy<Task<TemplateApp>>> Built = new();

    private TemplateApp(string template, string name, string directory)
    {
        Template = template;
        Name = name;
        Directory = directory;
    }

    /// <summary>The template's short name (<c>web</c>, <c>worker</c>, ...).</summary>
    public string Template { get; }

    /// <summary>The project's (and the process's) name, e.g. TemplateWeb; never WebApp or SampleApp, which other tests look up by name.</summary>
    public string Name { get; }

    /// <summary>The generated project.</summary>
    public string Directory { get; }

    /// <summary>The built application, run as <c>dotnet &lt;Assembly&gt;</c>.</summary>
    public string Assembly => Path.Combine(Directory, "out", Name + ".dll");

    public static string Root => Path.Combine(Paths.RepositoryRoot, "artifacts", "template-apps");

    /// <summary>Generates and builds the template on first use in this test run; later calls get the same build.</summary>
    /// <param name="template">The `dotnet new` short name.</param>
    /// <param name="name">The project name; defaults to Template + the template's name in Pascal case.</param>
    public static Task<TemplateApp> GetAsync(string template, string? name = null) =>
        Built.GetOrAdd(template, t => new Lazy<Task<TemplateApp>>(() => CreateAsync(t, name ?? "Template" + char.ToUpperInvariant(t[0]) + t[1..].Replace("-", string.Empty, StringComparison.Ordinal)))).Value;

    private static async Task<TemplateApp> CreateAsync(string template, string name)
    {
        IsolateFromRepository();
        string directory = Path.Combine(Root, template);
        if (System.IO.Directory.Exists(directory))
        {
            System.IO.Directory.Delete(directory, recursive: true);
        }

        System.IO.Directory.CreateDirectory(directory);
        await DotnetAsync(directory, TimeSpan.FromMinutes(2), "new", template, "-n", name, "-o", directory);
        await DotnetAsync(directory, TimeSpan.FromMinutes(4), "build", "-c", "Release", "-o", Path.Combine(directory, "out"));
        var app = new TemplateApp(template, name, directory);
        if (!File.Exists(app.Assembly))
        {
            throw new InvalidOperationException($"dotnet new {template} built, but {app.Assembly} is not there.");
        }

        return app;
    }

    /// <summary>
    /// The generated projects live inside the repository (under artifacts/), where MSBuild would
    /// otherwise pick up the repository's own build settings (artifacts output, warnings as errors,
    /// central package versions): empty files here stop it looking further up.
    /// </summary>
    private static void IsolateFromRepository()
    {
        System.IO.Directory.CreateDirectory(Root);
        File.WriteAllText(Path.Combine(Root, "Directory.Build.props"), "<Project />\n");
        File.WriteAllText(Path.Combine(Root, "Directory.Build.targets"), "<Project />\n");
        File.WriteAllText(Path.Combine(Root, "Directory.Packages.props"), "<Project>\n  <PropertyGroup>\n    <ManagePackageVersionsCentrally>false</ManagePackageVersionsCentrally>\n  </PropertyGroup>\n</Project>\n");
    }

    private static async Task DotnetAsync(string directory, TimeSpan timeout, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        // The test host's own hooks and settings must not reach the SDK.
        start.Environment.Remove("DOTNET_STARTUP_HOOKS");
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        using Process process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        using var cancellation = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cancellation.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"dotnet {string.Join(' ', arguments)} did not finish within {timeout.TotalMinutes} min.");
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"dotnet {string.Join(' ', arguments)} failed ({process.ExitCode}):\n{await stdout}\n{await stderr}");
        }
    }
}
