using System.Diagnostics;
using System.Net.Sockets;

namespace Crac.EndToEnd.Tests.Infrastructure;

/// <summary>
/// A real server from Debian's packages (PostgreSQL, Redis) started for a test: on loopback, on a
/// port of its own, its data in a temporary directory, stopped and deleted on dispose.
/// </summary>
internal abstract class ServerProcess : IAsyncDisposable
{
    private Process? _process;

    protected ServerProcess(string name)
    {
        Directory = System.IO.Directory.CreateTempSubdirectory($"crac-{name}-").FullName;
        Port = Loopback.FreePort();
    }

    public int Port { get; }

    public string Directory { get; }

    public string LogFile => Path.Combine(Directory, "server.log");

    protected async Task StartAsync(string program, IEnumerable<string> arguments, string? asUser, TimeSpan timeout, string what)
    {
        var start = new ProcessStartInfo(asUser is null ? program : "setpriv") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        if (asUser is not null)
        {
            foreach (string argument in new[] { $"--reuid={asUser}", $"--regid={asUser}", "--init-groups", program })
            {
                start.ArgumentList.Add(argument);
            }
        }

        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        _process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {program}.");
        var log = new System.Text.StringBuilder();
        _process.OutputDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        _process.ErrorDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        await ProcessRunner.WaitUntilAsync(() => _process.HasExited || Accepts(Port), timeout, $"{what} to accept on 127.0.0.1:{Port}");
        if (_process.HasExited)
        {
            lock (log)
            {
                throw new InvalidOperationException($"{what} exited at start ({_process.ExitCode}):\n{log}");
            }
        }
    }

    private static bool Accepts(int port)
    {
        try
        {
            using var client = new TcpClient();
            client.Connect("127.0.0.1", port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    protected static void Run(string program, IEnumerable<string> arguments, string? asUser, string what)
    {
        var start = new ProcessStartInfo(asUser is null ? program : "setpriv") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        if (asUser is not null)
        {
            foreach (string argument in new[] { $"--reuid={asUser}", $"--regid={asUser}", "--init-groups", program })
            {
                start.ArgumentList.Add(argument);
            }
        }

        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using Process process = Process.Start(start)!;
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            process.Kill();
            throw new TimeoutException($"{what} did not finish within 2 min.");
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{what} failed ({process.ExitCode}):\n{stdout}\n{stderr.Result}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            // SIGINT: PostgreSQL's fast shutdown, Redis's clean exit.
            _ = Process.Start("kill", ["-INT", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])?.WaitForExit(5000);
            using var cancellation = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            try
            {
                await _process.WaitForExitAsync(cancellation.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
            }
        }

        _process?.Dispose();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>A PostgreSQL server (Debian's postgresql package) for one test, trusting local connections as user postgres.</summary>
internal sealed class PostgresServer : ServerProcess
{
    private PostgresServer()
        : base("postgres")
    {
    }

    public string ConnectionString => $"Host=127.0.0.1;Port={Port};Username=postgres;Database=postgres;Pooling=true";

    /// <summary>The directory of initdb and postgres (/usr/lib/postgresql/&lt;version&gt;/bin), or a failure that says how to install them.</summary>
    public static string BinDirectory =>
        System.IO.Directory.Exists("/usr/lib/postgresql")
            ? System.IO.Directory.GetDirectories("/usr/lib/postgresql").Select(d => Path.Combine(d, "bin")).Where(d => File.Exists(Path.Combine(d, "postgres"))).OrderDescending().FirstOrDefault()
              ?? throw new InvalidOperationException("PostgreSQL is not installed: apt-get install -y postgresql (.ci/run does).")
            : throw new InvalidOperationException("PostgreSQL is not installed: apt-get install -y postgresql (.ci/run does).");

    public static async Task<PostgresServer> StartAsync()
    {
        var server = new PostgresServer();
        try
        {
            // initdb refuses to run as root: the cluster belongs to the postgres user.
            string data = Path.Combine(server.Directory, "data");
            System.IO.Directory.CreateDirectory(data);
            Run("chown", ["-R", "postgres:postgres", server.Directory], null, "chown");
            Run(Path.Combine(BinDirectory, "initdb"), ["-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"], "postgres", "initdb");
            await server.StartAsync(
                Path.Combine(BinDirectory, "postgres"),
                ["-D", data, "-p", server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-c", "listen_addresses=127.0.0.1", "-k", server.Directory, "-c", "fsync=off"],
                "postgres", TimeSpan.FromSeconds(30), "PostgreSQL");
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }
}

/// <summary>A redis-server (Debian's redis-server package) for one test, without persistence.</summary>
internal sealed class RedisServer : ServerProcess
{
    private RedisServer()
        : base("redis")
    {
    }

    public string Configuration => $"127.0.0.1:{Port}";

    public static async Task<RedisServer> StartAsync()
    {
        string program = new[] { "/usr/bin/redis-server", "/usr/local/bin/redis-server" }.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("redis-server is not installed: apt-get install -y redis-server (.ci/run does).");
        var server = new RedisServer();
        try
        {
            await server.StartAsync(
                program,
                ["--port", server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", server.Directory, "--daemonize", "no"],
                null, TimeSpan.FromSeconds(20), "redis-server");
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }
}
