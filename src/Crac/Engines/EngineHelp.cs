using System.Globalization;
using System.Text;
using Crac.Configuration;

namespace Crac.Engines;

/// <summary>The engine options listing, like <c>-XX:CRaCEngineOptions=help</c>.</summary>
internal static class EngineHelp
{
    public static string Describe(string? engineName)
    {
        IEnumerable<CheckpointEngine> engines = engineName is null
            ? CheckpointEngines.All
            : [CheckpointEngines.Find(engineName) ?? throw new ArgumentException(CheckpointEngines.UnknownEngineMessage(engineName))];
        var text = new StringBuilder();
        foreach (CheckpointEngine engine in engines)
        {
            text.Append(engine.Name).Append(" engine: ").Append(engine.Summary).Append('\n');
            if (engine.OptionDefinitions.Count == 0)
            {
                text.Append("  (no options)\n");
            }

            foreach (EngineOptionDefinition option in engine.OptionDefinitions)
            {
                string defaultText = option.DefaultValue.Length == 0 ? "(none)" : option.DefaultValue.ToLowerInvariant();
                text.Append(CultureInfo.InvariantCulture, $"  {option.Name,-18} {option.TypeName,-7} default {defaultText,-10} {option.Description}\n");
            }
        }

        return text.ToString().TrimEnd('\n');
    }
}
