using System.Globalization;

namespace Crac.Configuration;

/// <summary>
/// An engine's options, parsed and checked against its definitions: <c>key=value,key=value</c>,
/// where a bare <c>key</c> means <c>key=true</c>. Unknown keys and malformed values are refused
/// with a message that names them.
/// </summary>
internal sealed class EngineOptionValues
{
    private readonly Dictionary<string, string> _values;

    private EngineOptionValues(Dictionary<string, string> values) => _values = values;

    /// <exception cref="ArgumentException">An option is unknown or its value malformed; the message names it.</exception>
    public static EngineOptionValues Parse(string engineName, IReadOnlyList<EngineOptionDefinition> definitions, string? text)
    {
        var values = definitions.ToDictionary(o => o.Name, o => o.DefaultValue, StringComparer.Ordinal);
        foreach (string item in (text ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int equals = item.IndexOf('=');
            string key = equals < 0 ? item : item[..equals].Trim();
            string value = equals < 0 ? "true" : item[(equals + 1)..].Trim();
            EngineOptionDefinition definition = definitions.FirstOrDefault(o => o.Name == key)
                ?? throw new ArgumentException(UnknownOption(engineName, definitions, key));
            values[key] = Normalize(engineName, definition, value);
        }

        return new EngineOptionValues(values);
    }

    public bool GetBoolean(string name) => bool.Parse(_values[name]);

    public int GetInt32(string name) => int.Parse(_values[name], CultureInfo.InvariantCulture);

    public string GetString(string name) => _values[name];

    private static string UnknownOption(string engineName, IReadOnlyList<EngineOptionDefinition> definitions, string key) =>
        definitions.Count == 0
            ? $"Unknown engine option '{key}': the {engineName} engine takes no options."
            : $"Unknown engine option '{key}' for the {engineName} engine. Its options are: " +
              $"{string.Join(", ", definitions.Select(o => o.Name))}. Set {CracEnvironment.EngineOptions}=help to list them with their types.";

    private static string Normalize(string engineName, EngineOptionDefinition definition, string value)
    {
        string? normalized = definition.Kind switch
        {
            EngineOptionKind.Boolean => value switch
            {
                "true" or "1" or "yes" or "on" => "True",
                "false" or "0" or "no" or "off" => "False",
                _ => null,
            },
            EngineOptionKind.Integer => int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int number)
                ? number.ToString(CultureInfo.InvariantCulture)
                : null,
            EngineOptionKind.Text or EngineOptionKind.Path => value.Length > 0 ? value : null,
        };
        return normalized ?? throw new ArgumentException(
            $"Engine option '{definition.Name}' of the {engineName} engine expects {Article(definition.TypeName)} {definition.TypeName}, but got '{value}'.");
    }

    private static string Article(string word) => word.StartsWith('i') ? "an" : "a";
}
