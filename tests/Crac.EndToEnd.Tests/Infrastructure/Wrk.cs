using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;

namespace Crac.EndToEnd.Tests.Infrastructure;

/// <summary>
/// What a wrk run reports. wrk counts a connect it could not complete as a connect or a write
/// error (a refused non-blocking connect fails on the first write), so neither is a request the
/// server accepted. A request written on an open connection that gets a reset, or the connection
/// closed before its response, is a read error; a response that took longer than the timeout is a
/// timeout; a status outside 2xx/3xx is non-2xx.
/// </summary>
internal sealed record WrkResult(
    long Requests, long ConnectErrors, long ReadErrors, long WriteErrors, long Timeouts, long Non2xx, double RequestsPerSecond, string Output)
{
    /// <summary>Requests that were sent and then failed: reset, cut off, timed out, or answered with an error status.</summary>
    public long FailedAcceptedRequests => ReadErrors + Timeouts + Non2xx;

    public override string ToString() => Output;

    public static WrkResult Parse(string output)
    {
        long requests = Number(@"(\d+) requests in");
        Match errors = Regex.Match(output, @"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)");
        long Group(int i) => errors.Success ? long.Parse(errors.Groups[i].Value, CultureInfo.InvariantCulture) : 0;
        Match rate = Regex.Match(output, @"Requests/sec:\s+([\d.]+)");
        if (!Regex.IsMatch(output, @"\d+ requests in"))
        {
            throw new FormatException("Not a wrk report:\n" + output);
        }

        return new WrkResult(
            requests, Group(1), Group(2), Group(3), Group(4), Number(@"Non-2xx or 3xx responses: (\d+)"),
            rate.Success ? double.Parse(rate.Groups[1].Value, CultureInfo.InvariantCulture) : 0, output);

        long Number(string pattern)
        {
            Match match = Regex.Match(output, pattern);
            return match.Success ? long.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
        }
    }
}

/// <summary>
/// Runs wrk (Debian's package) against a loopback address only, bounded in connections and time:
/// keep-alive load for a test, never traffic off the machine.
/// </summary>
internal sealed class Wrk
{
    public static readonly TimeSpan MaxDuration = TimeSpan.FromSeconds(60);
    public const int MaxConnections = 64;

    private readonly Process _process;
    private readonly Task<string> _stdout;
    private readonly Task<string> _stderr;
    private readonly TimeSpan _duration;

    private Wrk(Process process, TimeSpan duration)
    {
        _process = process;
        _duration = duration;
        _stdout = process.StandardOutput.ReadToEndAsync();
        _stderr = process.StandardError.ReadToEndAsync();
    }

    /// <summary>The path of wrk, or a failure that says how to install it (.ci/run does).</summary>
    public static string Executable =>
        new[] { "/usr/bin/wrk", "/usr/local/bin/wrk" }.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("wrk is not installed: apt-get install -y wrk (.ci/run does).");

    /// <summary>Starts wrk in the background; <see cref="WaitAsync"/> collects its report.</summary>
    /// <param name="url">A loopback http URL.</param>
    /// <param name="connections">Keep-alive connections, at most <see cref="MaxConnections"/>.</param>
    /// <param name="duration">At most <see cref="MaxDuration"/>.</param>
    /// <param name="threads">wrk threads; at most the number of connections.</param>
    /// <param name="timeout">wrk's per-request timeout (its default is 2 s).</param>
    public static Wrk Start(Uri url, int connections, TimeSpan duration, int threads = 1, TimeSpan? timeout = null)
    {
        if (!IPAddress.TryParse(url.Host, out IPAddress? address) || !IPAddress.IsLoopback(address))
        {
            throw new ArgumentException($"wrk is only ever pointed at a loopback address, not {url.Host}.", nameof(url));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(connections, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(connections, MaxConnections);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(duration, MaxDuration);
        ArgumentOutOfRangeException.ThrowIfLessThan(duration, TimeSpan.FromSeconds(1));
        threads = Math.Clamp(threads, 1, connections);

        var start = new ProcessStartInfo(Executable) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string argument in new[]
        {
            $"-t{threads}", $"-c{connections}", $"-d{(int)Math.Ceiling(duration.TotalSeconds)}s",
            "--timeout", $"{(int)Math.Ceiling((timeout ?? TimeSpan.FromSeconds(2)).TotalSeconds)}s", url.ToString(),
        })
        {
            start.ArgumentList.Add(argument);
        }

        return new Wrk(Process.Start(start) ?? throw new InvalidOperationException("Could not start wrk."), duration);
    }

    /// <summary>Waits for wrk to end (its duration and 15 s more at most) and parses its report.</summary>
    public async Task<WrkResult> WaitAsync()
    {
        TimeSpan limit = _duration + TimeSpan.FromSeconds(15);
        using var cancellation = new CancellationTokenSource(limit);
        try
        {
            await _process.WaitForExitAsync(cancellation.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill();
            throw new TimeoutException($"wrk did not end within {limit.TotalSeconds:0} s.");
        }

        string output = await _stdout + await _stderr;
        if (_process.ExitCode != 0)
        {
            throw new InvalidOperationException($"wrk failed ({_process.ExitCode}):\n{output}");
        }

        return WrkResult.Parse(output);
    }
}
