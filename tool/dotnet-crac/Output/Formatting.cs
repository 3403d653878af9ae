using System.Globalization;

namespace Crac.Tool.Output;

internal static class Formatting
{
    public static string Duration(double milliseconds) => milliseconds switch
    {
        < 1 => $"{milliseconds.ToString("0.###", CultureInfo.InvariantCulture)} ms",
        < 1000 => $"{milliseconds.ToString("0.#", CultureInfo.InvariantCulture)} ms",
        < 120_000 => $"{(milliseconds / 1000).ToString("0.##", CultureInfo.InvariantCulture)} s",
        _ => TimeSpan.FromMilliseconds(milliseconds).ToString(@"d\.hh\:mm\:ss", CultureInfo.InvariantCulture),
    };

    public static string Time(DateTimeOffset? time) =>
        time?.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss.fff 'UTC'", CultureInfo.InvariantCulture) ?? "-";
}
