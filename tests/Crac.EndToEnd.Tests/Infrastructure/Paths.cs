namespace Crac.EndToEnd.Tests.Infrastructure;

/// <summary>Where the built tool, agent and sample apps are (artifacts/bin/&lt;project&gt;/&lt;config&gt;).</summary>
internal static class Paths
{
    public static string Configuration { get; } = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/')).Name;

    public static string RepositoryRoot { get; } = FindRoot();

    public static string Artifacts => Path.Combine(RepositoryRoot, "artifacts", "bin");

    public static string Tool => Output("dotnet-crac", "dotnet-crac.dll");

    public static string Agent => Output("Crac.Agent", "Crac.Agent.dll");

    public static string SampleApp => Output("SampleApp", "SampleApp.dll");

    public static string WebApp => Output("WebApp", "WebApp.dll");

    public static string FdZoo => Output("FdZoo", "FdZoo.dll");

    public static string Criu => Path.Combine(RepositoryRoot, ".tools", "criu", "criu");

    public static string Output(string project, string file) => Path.Combine(Artifacts, project, Configuration, file);

    private static string FindRoot()
    {
        for (DirectoryInfo? directory = new(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Crac.Diagnostics.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("Cannot find the repository root (Crac.Diagnostics.sln) above " + AppContext.BaseDirectory);
    }
}
