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

    /// <summary>A byte count for people: 1.5 KiB, 21.3 MiB.</summary>
    public static string Size(long bytes) => bytes switch
    {
        < 1024 => $"{bytes.ToString(CultureInfo.InvariantCulture)} B",
        < 1 << 20 => $"{(bytes / 1024.0).ToString("0.#", CultureInfo.InvariantCulture)} KiB",
        < 1L << 30 => $"{(bytes / (1024.0 * 1024)).ToString("0.#", CultureInfo.InvariantCulture)} MiB",
        _ => $"{(bytes / (1024.0 * 1024 * 1024)).ToString("0.##", CultureInfo.InvariantCulture)} GiB",
    };
}
