namespace Crac.Tool.Criu;

/// <summary>
/// An image's labels, as CRaC's <c>jdk.crac.labels</c>: <c>key=value</c> pairs an operator records
/// at checkpoint (<c>--label</c>) and requires at restore (<c>--require-label</c>).
/// </summary>
internal static class ImageLabels
{
    /// <summary>Parses repeated <c>key=value</c> options; a malformed one is an argument error that names it.</summary>
    public static IReadOnlyDictionary<string, string> Parse(IEnumerable<string>? pairs, string option)
    {
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string pair in pairs ?? [])
        {
            int equals = pair.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                throw new ToolException(ReturnCode.ArgumentError, $"{option} {pair}: a label is key=value, e.g. {option} release=2026.12.");
            }

            labels[pair[..equals]] = pair[(equals + 1)..];
        }

        return labels;
    }

    /// <summary>The required labels the image lacks or has with another value, each as "key=value (the image has ...)".</summary>
    public static IReadOnlyList<string> Missing(IReadOnlyDictionary<string, string> required, IReadOnlyDictionary<string, string> image) =>
        [.. required
            .Where(label => !image.TryGetValue(label.Key, out string? value) || value != label.Value)
            .Select(label => image.TryGetValue(label.Key, out string? value)
                ? $"{label.Key}={label.Value} (the image has {label.Key}={value})"
                : $"{label.Key}={label.Value} (the image has no {label.Key})")];
}
