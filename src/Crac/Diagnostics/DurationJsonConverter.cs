using System.Text.Json;
using System.Text.Json.Serialization;

namespace Crac.Diagnostics;

/// <summary>
/// A duration on the wire: milliseconds as a number, or the string <c>infinite</c> for
/// <see cref="Timeout.InfiniteTimeSpan"/>. A missing value stays missing, so a request tells
/// "not set" from "infinite" from "2 s" exactly.
/// </summary>
internal sealed class DurationJsonConverter : JsonConverter<TimeSpan>
{
    private const string Infinite = "infinite";

    public override TimeSpan Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => reader.TokenType switch
    {
        JsonTokenType.Number => TimeSpan.FromMilliseconds(reader.GetDouble()),
        JsonTokenType.String when reader.ValueTextEquals(Infinite) => Timeout.InfiniteTimeSpan,
        _ => throw new JsonException($"A duration is a number of milliseconds or \"{Infinite}\", not {reader.TokenType}."),
    };

    public override void Write(Utf8JsonWriter writer, TimeSpan value, JsonSerializerOptions options)
    {
        if (value == Timeout.InfiniteTimeSpan)
        {
            writer.WriteStringValue(Infinite);
        }
        else
        {
            writer.WriteNumberValue(value.TotalMilliseconds);
        }
    }
}
