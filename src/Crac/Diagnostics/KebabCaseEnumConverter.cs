using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Crac.Diagnostics;

/// <summary>
/// Enums travel as the names <see cref="WireNames"/> gives them, never as numbers; a name that is
/// not one of them is refused with the names that are.
/// </summary>
internal sealed class KebabCaseEnumConverter<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicFields)] TEnum> : JsonConverter<TEnum>
    where TEnum : struct, Enum
{
    private static readonly Dictionary<string, TEnum> ByName =
        Enum.GetValues<TEnum>().ToDictionary(value => WireNames.Of(value), StringComparer.Ordinal);

    public override TEnum Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        string? name = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
        return name is not null && ByName.TryGetValue(name, out TEnum value)
            ? value
            : throw new JsonException(
                $"unknown {JsonNamingPolicy.KebabCaseLower.ConvertName(typeof(TEnum).Name).Replace('-', ' ')} '{name ?? reader.TokenType.ToString()}' (use {string.Join(", ", ByName.Keys)})");
    }

    public override void Write(Utf8JsonWriter writer, TEnum value, JsonSerializerOptions options) => writer.WriteStringValue(WireNames.Of(value));
}
