using System.Globalization;
using Crac.Engines;

namespace Crac.Configuration;

/// <summary>The environment variables of the configuration scheme, shared by every engine.</summary>
internal static class CracEnvironment
{
    public const string Engine = "CRAC_ENGINE";
    public const string CheckpointTo = "CRAC_CHECKPOINT_TO";
    public const string EngineOptions = "CRAC_ENGINE_OPTIONS";
    public const string CheckpointTimeout = "CRAC_CHECKPOINT_TIMEOUT";
}

/// <summary>A checkpoint's options once code, environment and defaults are merged and checked.</summary>
internal sealed record ResolvedCheckpointOptions(
    CheckpointEngine Engine,
    string? ImageDirectory,
    EngineOptionValues EngineOptions,
    TimeSpan Timeout,
    bool DryRun,
    bool KeepRunning);

internal static class CracSettings
{
    public const string DefaultEngine = "simulate";
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    /// <summary>The engine name the process is configured with, before any request overrides it.</summary>
    public static string ConfiguredEngineName =>
        NullIfEmpty(Environment.GetEnvironmentVariable(CracEnvironment.Engine)) ?? DefaultEngine;

    /// <summary>
    /// Merges options given in code with the environment and the defaults.
    /// </summary>
    /// <exception cref="ArgumentException">An option is unknown or malformed; the message names it.</exception>
    public static ResolvedCheckpointOptions Resolve(CheckpointOptions? options)
    {
        options ??= new CheckpointOptions();
        string engineName = NullIfEmpty(options.Engine) ?? ConfiguredEngineName;
        CheckpointEngine engine = CheckpointEngines.Find(engineName)
            ?? throw new ArgumentException(CheckpointEngines.UnknownEngineMessage(engineName));

        string? imageDirectory = NullIfEmpty(options.ImageDirectory) ?? NullIfEmpty(Environment.GetEnvironmentVariable(CracEnvironment.CheckpointTo));
        if (imageDirectory is not null)
        {
            imageDirectory = Path.GetFullPath(imageDirectory);
        }

        EngineOptionValues engineOptions = EngineOptionValues.Parse(
            engine, options.EngineOptions ?? Environment.GetEnvironmentVariable(CracEnvironment.EngineOptions));

        TimeSpan timeout = options.Timeout ?? ParseTimeout(Environment.GetEnvironmentVariable(CracEnvironment.CheckpointTimeout), CracEnvironment.CheckpointTimeout);
        if (timeout <= TimeSpan.Zero && timeout != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentException($"The checkpoint timeout must be positive, but is {timeout}.");
        }

        if (options.KeepRunning && !engine.SupportsKeepRunning)
        {
            throw new ArgumentException($"The {engine.Name} engine cannot keep the process running after a checkpoint; drop keep-running or use the criu engine.");
        }

        if (engine.TakesImage && imageDirectory is null && !options.DryRun)
        {
            throw new ArgumentException(
                $"The {engine.Name} engine needs an image directory: set CRAC_CHECKPOINT_TO, CheckpointOptions.ImageDirectory or --image-dir.");
        }

        return new ResolvedCheckpointOptions(engine, imageDirectory, engineOptions, timeout, options.DryRun, options.KeepRunning);
    }

    /// <summary>Parses <c>30</c> (seconds), <c>30s</c>, <c>500ms</c>, <c>2m</c>, <c>00:00:30</c> or <c>infinite</c>.</summary>
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

    private static string? NullIfEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();
}
