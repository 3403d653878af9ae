using System.Globalization;

namespace Crac.Configuration;

/// <summary>The defaults of the configuration scheme, and the timeout's text form.</summary>
internal static class CracSettings
{
    public const string DefaultEngine = "simulate";
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    /// <summary>The engine name the process is configured with, before any request overrides it.</summary>
    public static string ConfiguredEngineName =>
        NullIfEmpty(Environment.GetEnvironmentVariable(CracEnvironment.Engine)) ?? DefaultEngine;

    /// <summary>Parses <c>30</c> (seconds), <c>30s</c>, <c>500ms</c>, <c>2m</c>, <c>00:00:30</c> or <c>infinite</c>; empty is the default.</summary>
    /// <exception cref="ArgumentException">The text is not a timeout; the message names <paramref name="source"/>.</exception>
    public static TimeSpan ParseTimeout(string? text, string source)
    {
        text = text?.Trim();
        if (string.IsNullOrEmpty(text))
        {
            return DefaultTimeout;
        }

        if (text.Equals("infinite", StringComparison.OrdinalIgnoreCase))
        {
            return Timeout.InfiniteTimeSpan;
        }

        (string number, double scale) = text switch
        {
            _ when text.EndsWith("ms", StringComparison.Ordinal) => (text[..^2], 1.0),
            _ when text.EndsWith('s') => (text[..^1], 1000.0),
            _ when text.EndsWith('m') => (text[..^1], 60_000.0),
            _ => (text, 1000.0),
        };
        if (double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) && value > 0)
        {
            return TimeSpan.FromMilliseconds(value * scale);
        }

        if (TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out TimeSpan span) && span > TimeSpan.Zero)
        {
            return span;
        }

        throw new ArgumentException($"{source}='{text}' is not a timeout: use e.g. 30s, 500ms, 2m, 00:00:30 or infinite.");
    }

    /// <summary>A timeout as the operator reads it: <c>infinite</c>, <c>30 s</c>, <c>500 ms</c>.</summary>
    public static string FormatTimeout(TimeSpan timeout) =>
        timeout == Timeout.InfiniteTimeSpan ? "infinite"
        : timeout.TotalSeconds >= 1 && timeout.Milliseconds == 0 ? $"{timeout.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture)} s"
        : $"{timeout.TotalMilliseconds.ToString("0.###", CultureInfo.InvariantCulture)} ms";

    public static string? NullIfEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();
}
