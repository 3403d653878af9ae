using System.Diagnostics;
using System.Text.RegularExpressions;

// The README's first command: the whole story on the bundled sample app. It starts the app with
// the agent, then runs the real dotnet-crac commands against it, printing each as typed:
// ps, status, fds, a checkpoint that fails (with its exception tree), one that succeeds, and
// the status after. Where CRIU works (dotnet crac doctor), it also takes a real image and
// restores it.
string configuration = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/')).Name;
// artifacts/bin/Demo/<configuration>/ -> artifacts/bin/
string artifacts = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", ".."));
string tool = Path.Combine(artifacts, "dotnet-crac", configuration, "dotnet-crac.dll");
string agent = Path.Combine(artifacts, "Crac.Agent", configuration, "Crac.Agent.dll");
string sample = Path.Combine(artifacts, "SampleApp", configuration, "SampleApp.dll");
string scratch = Directory.CreateTempSubdirectory("dotnet-crac-demo-").FullName;
string appOutput = Path.Combine(scratch, "app.log");

Banner("Start the sample app with the agent (dotnet crac run -- dotnet SampleApp.dll does the same)");
var start = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
foreach (string argument in new[] { "-c", "exec \"$@\" </dev/null >>\"$DEMO_OUT\" 2>&1", "sh", "dotnet", sample, "--fail-first-checkpoint" })
{
    start.ArgumentList.Add(argument);
}

start.Environment["DEMO_OUT"] = appOutput;
start.Environment["DOTNET_STARTUP_HOOKS"] = agent;
File.WriteAllText(appOutput, string.Empty);
using Process app = Process.Start(start)!;
int pid = app.Id;
while (!File.ReadAllText(appOutput).Contains("ready pid=", StringComparison.Ordinal))
{
    if (app.HasExited)
    {
        Console.WriteLine($"The sample app exited at start:\n{File.ReadAllText(appOutput)}");
        return 1;
    }

    Thread.Sleep(50);
}

Console.WriteLine($"SampleApp is running as pid {pid}, with three resources and one that cannot drain its transactions at the first checkpoint.");
int failures = 0;
try
{
    Run("ps");
    Run("status", $"{pid}");
    Run("fds", $"{pid}", "--blocking");
    Banner("A checkpoint on the default engine (simulate): the resource fails, the others roll back, and the app carries on");
    Expect(Run("checkpoint", $"{pid}"), 2);
    ShowAppOutput();
    Banner("The transactions have finished: the next checkpoint goes through");
    Expect(Run("checkpoint", $"{pid}"), 0);
    ShowAppOutput();
    Run("status", $"{pid}");

    if (Run("doctor") == 0)
    {
        string image = Path.Combine(scratch, "image");
        Banner("CRIU works here: take a real image (the process exits), then restore it");
        Expect(Run("checkpoint", $"{pid}", "--engine", "criu", "--image-dir", image), 0);
        app.WaitForExit();
        Expect(Run("restore", image), 0);
        Run("status", $"{pid}");
    }
    else
    {
        Console.WriteLine("(CRIU is not usable here, so the demo stops at the simulate engine: .ci/install-criu.sh installs it.)");
    }
}
finally
{
    if (Directory.Exists($"/proc/{pid}"))
    {
        Process.Start("kill", ["-9", $"{pid}"])!.WaitForExit();
    }

    try
    {
        Directory.Delete(scratch, recursive: true);
    }
    catch (IOException)
    {
    }
}

Console.WriteLine(failures == 0 ? "\nDemo complete." : $"\nDemo finished with {failures} unexpected result(s).");
return failures == 0 ? 0 : 1;

int Run(params string[] arguments)
{
    Console.WriteLine($"\n$ dotnet crac {string.Join(' ', arguments)}");
    Console.Out.Flush();
    var command = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
    command.ArgumentList.Add(tool);
    foreach (string argument in arguments)
    {
        command.ArgumentList.Add(argument);
    }

    using Process process = Process.Start(command)!;
    // Wait only for the tool, not for the end of its output: a restored app inherits the tool's
    // stdio and keeps writing to it, and what it writes after the tool is gone is not shown.
    bool finished = false;
    process.OutputDataReceived += (_, e) => Show(e.Data);
    process.ErrorDataReceived += (_, e) => Show(e.Data);
    process.BeginOutputReadLine();
    process.BeginErrorReadLine();
    process.WaitForExit(TimeSpan.FromMinutes(2));
    Thread.Sleep(50);
    finished = true;
    return process.ExitCode;

    void Show(string? line)
    {
        if (line is not null && !Volatile.Read(ref finished) && !Regex.IsMatch(line, "^tick "))
        {
            Console.WriteLine(line);
        }
    }
}

void Expect(int exitCode, int expected)
{
    if (exitCode != expected)
    {
        failures++;
        Console.WriteLine($"(unexpected: exit code {exitCode}, expected {expected})");
    }
}

void ShowAppOutput()
{
    Thread.Sleep(200);
    string[] lines = File.ReadAllLines(appOutput).Where(line => !Regex.IsMatch(line, "^tick ")).ToArray();
    Console.WriteLine("\n  The app's own output so far:");
    foreach (string line in lines.TakeLast(12))
    {
        Console.WriteLine("  | " + line);
    }
}

void Banner(string text) => Console.WriteLine($"\n=== {text}");
