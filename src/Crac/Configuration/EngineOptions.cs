using System.Globalization;
using System.Text;
using Crac.Engines;

namespace Crac.Configuration;

internal enum EngineOptionKind
{
    Boolean,
    Integer,
    Text,
    Path,
}

/// <summary>One option an engine accepts in CRAC_ENGINE_OPTIONS (or --engine-options).</summary>
internal sealed record EngineOptionDefinition(string Name, EngineOptionKind Kind, string DefaultValue, string Description)
{
    public string TypeName => Kind switch
    {
        EngineOptionKind.Boolean => "bool",
        EngineOptionKind.Integer => "int",
        EngineOptionKind.Path => "path",
        _ => "string",
    };
}

/// <summary>
/// An engine's options, parsed and checked against its definitions: <c>key=value,key=value</c>,
/// where a bare <c>key</c> means <c>key=true</c>. Unknown keys and malformed values are refused
/// with a message that names them.
/// </summary>
internal sealed class EngineOptionValues
{
    private readonly Dictionary<string, string> _values;

    private EngineOptionValues(Dictionary<string, string> values, string text)
    {
        _values = values;
        Text = text;
    }

    /// <summary>The text the values were parsed from, to pass on unchanged.</summary>
    public string Text { get; }

    public static EngineOptionValues Parse(CheckpointEngine engine, string? text)
    {
        var values = engine.OptionDefinitions.ToDictionary(o => o.Name, o => o.DefaultValue, StringComparer.Ordinal);
        text = text?.Trim() ?? string.Empty;
        if (text.Length == 0)
        {
            return new EngineOptionValues(values, text);
        }

        if (text == "help")
        {
            throw new ArgumentException($"Engine options help was requested instead of a checkpoint.{Environment.NewLine}{EngineHelp.Describe(engine.Name)}");
        }

        foreach (string item in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int equals = item.IndexOf('=');
            string key = equals < 0 ? item : item[..equals].Trim();
            string value = equals < 0 ? "true" : item[(equals + 1)..].Trim();
            EngineOptionDefinition definition = engine.OptionDefinitions.FirstOrDefault(o => o.Name == key)
                ?? throw new ArgumentException(UnknownOption(engine, key));
            values[key] = Normalize(engine, definition, value);
        }

        return new EngineOptionValues(values, text);
    }

    public bool GetBoolean(string name) => bool.Parse(_values[name]);

    public int GetInt32(string name) => int.Parse(_values[name], CultureInfo.InvariantCulture);

    public string GetString(string name) => _values[name];

    private static string UnknownOption(CheckpointEngine engine, string key) =>
        engine.OptionDefinitions.Count == 0
            ? $"Unknown engine option '{key}': the {engine.Name} engine takes no options."
            : $"Unknown engine option '{key}' for the {engine.Name} engine. Its options are: " +
              $"{string.Join(", ", engine.OptionDefinitions.Select(o => o.Name))}. Set CRAC_ENGINE_OPTIONS=help to list them with their types.";

    private static string Normalize(CheckpointEngine engine, EngineOptionDefinition definition, string value)
    {
        switch (definition.Kind)
        {
            case EngineOptionKind.Boolean:
                if (value is "true" or "1" or "yes" or "on")
                {
                    return "True";
                }

                if (value is "false" or "0" or "no" or "off")
                {
                    return "False";
                }

                break;
            case EngineOptionKind.Integer:
                if (int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int number))
                {
                    return number.ToString(CultureInfo.InvariantCulture);
                }

                break;
            default:
                if (value.Length > 0)
                {
                    return value;
                }

                break;
        }

        throw new ArgumentException(
            $"Engine option '{definition.Name}' of the {engine.Name} engine expects {Article(definition.TypeName)} {definition.TypeName}, but got '{value}'.");
    }

    private static string Article(string word) => word.StartsWith('i') ? "an" : "a";
}

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
