using Crac.Configuration;

namespace Crac.Engines;

/// <summary>Merges a checkpoint's options given in code (or by the tool) with the environment and the defaults.</summary>
internal static class CheckpointSettings
{
    /// <exception cref="ArgumentException">An option is unknown or malformed; the message names it.</exception>
    public static ResolvedCheckpointOptions Resolve(CheckpointOptions? options)
    {
        options ??= new CheckpointOptions();
        string engineName = CracSettings.NullIfEmpty(options.Engine) ?? CracSettings.ConfiguredEngineName;
        CheckpointEngine engine = CheckpointEngines.Find(engineName)
            ?? throw new ArgumentException(CheckpointEngines.UnknownEngineMessage(engineName));

        string? imageDirectory = CracSettings.NullIfEmpty(options.ImageDirectory)
            ?? CracSettings.NullIfEmpty(Environment.GetEnvironmentVariable(CracEnvironment.CheckpointTo));
        if (imageDirectory is not null)
        {
            imageDirectory = Path.GetFullPath(imageDirectory);
        }

        string? optionText = options.EngineOptions ?? Environment.GetEnvironmentVariable(CracEnvironment.EngineOptions);
        if (string.Equals(optionText?.Trim(), "help", StringComparison.OrdinalIgnoreCase))
        {
            throw new ArgumentException($"Engine options help was requested instead of a checkpoint.{Environment.NewLine}{EngineHelp.Describe(engine.Name)}");
        }

        EngineOptionValues engineOptions = EngineOptionValues.Parse(engine.Name, engine.OptionDefinitions, optionText);

        // Set in code or by the tool, it is exact (infinite included); unset, the environment decides.
        TimeSpan timeout = options.Timeout ?? CracSettings.ParseTimeout(Environment.GetEnvironmentVariable(CracEnvironment.CheckpointTimeout), CracEnvironment.CheckpointTimeout);
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
                $"The {engine.Name} engine needs an image directory: set {CracEnvironment.CheckpointTo}, CheckpointOptions.ImageDirectory or --image-dir.");
        }

        return new ResolvedCheckpointOptions(engine, imageDirectory, engineOptions, timeout, options.DryRun, options.KeepRunning);
    }
}
