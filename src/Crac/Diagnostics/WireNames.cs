using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Crac.Diagnostics;

/// <summary>
/// The name an enum value has on the wire and in the operator's terminal: its
/// <see cref="JsonStringEnumMemberNameAttribute"/>, else its name in kebab case
/// (<c>WaitingForDump</c> is <c>waiting-for-dump</c>). <see cref="KebabCaseEnumConverter{TEnum}"/>
/// writes the same names, so what a report says and what the JSON holds never differ.
/// </summary>
internal static class WireNames
{
    public static string Of<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicFields)] TEnum>(TEnum value)
        where TEnum : struct, Enum =>
        Cache<TEnum>.Names.GetOrAdd(value, static v => NameOf(v));

    private static string NameOf<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicFields)] TEnum>(TEnum value)
        where TEnum : struct, Enum
    {
        string name = value.ToString();
        return typeof(TEnum).GetField(name, BindingFlags.Public | BindingFlags.Static)?.GetCustomAttribute<JsonStringEnumMemberNameAttribute>()?.Name
            ?? JsonNamingPolicy.KebabCaseLower.ConvertName(name);
    }

    private static class Cache<TEnum>
        where TEnum : struct, Enum
    {
        public static readonly ConcurrentDictionary<TEnum, string> Names = new();
    }
}
