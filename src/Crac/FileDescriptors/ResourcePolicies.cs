using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;

namespace Crac.FileDescriptors;

/// <summary>
/// CRaC's resource-policies file (CRAC_RESOURCE_POLICIES): rules separated by <c>---</c>, each a
/// few <c>key: value</c> lines, <c>#</c> comments; <c>type</c> and <c>action</c> are mandatory and
/// the first matching rule wins. A malformed file is refused with the line it goes wrong on.
/// </summary>
internal sealed class ResourcePolicies
{
    public const string EnvironmentVariable = "CRAC_RESOURCE_POLICIES";

    private static readonly string[] Keys =
        ["type", "action", "warn", "path", "family", "localAddress", "localPort", "remoteAddress", "remotePort", "localPath", "remotePath", "listening", "value", "regex"];

    private ResourcePolicies(string source, IReadOnlyList<PolicyRule> rules)
    {
        Source = source;
        Rules = rules;
    }

    public string Source { get; }

    public IReadOnlyList<PolicyRule> Rules { get; }

    public PolicyRule? Match(FdEntry entry) => Rules.FirstOrDefault(rule => rule.Matches(entry));

    /// <summary>Reads and parses a policies file.</summary>
    /// <exception cref="PolicyFileException">The file cannot be read or is malformed.</exception>
    public static ResourcePolicies ReadFile(string path, string origin)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            throw new PolicyFileException($"Cannot read the resource policies file {path} ({origin}): {exception.Message}");
        }

        return Parse(text, path);
    }

    /// <exception cref="PolicyFileException">The text is malformed; the message names the line.</exception>
    public static ResourcePolicies Parse(string text, string source)
    {
        var rules = new List<PolicyRule>();
        var pairs = new Dictionary<string, (string Value, int Line)>(StringComparer.Ordinal);
        int ruleLine = 0;
        string[] lines = text.Replace("\r\n", "\n").Split('\n');
        for (int i = 0; i <= lines.Length; i++)
        {
            int lineNumber = i + 1;
            string line = i < lines.Length ? lines[i].Trim() : "---";
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            if (line == "---")
            {
                if (pairs.Count > 0)
                {
                    rules.Add(BuildRule(pairs, rules.Count + 1, ruleLine, source));
                    pairs.Clear();
                }

                continue;
            }

            int colon = line.IndexOf(':');
            if (colon <= 0)
            {
                throw Error(source, lineNumber, $"expected 'key: value', got '{line}'");
            }

            string key = line[..colon].Trim();
            string value = Unquote(line[(colon + 1)..].Trim());
            string? known = Keys.FirstOrDefault(k => string.Equals(k, key, StringComparison.OrdinalIgnoreCase));
            if (known is null)
            {
                throw Error(source, lineNumber, $"unknown key '{key}' (the keys are: {string.Join(", ", Keys)})");
            }

            if (pairs.ContainsKey(known))
            {
                throw Error(source, lineNumber, $"'{known}' is given twice in one rule; separate rules with ---");
            }

            if (pairs.Count == 0)
            {
                ruleLine = lineNumber;
            }

            pairs[known] = (value, lineNumber);
        }

        return new ResourcePolicies(source, rules);
    }

    private static PolicyRule BuildRule(Dictionary<string, (string Value, int Line)> pairs, int index, int ruleLine, string source)
    {
        if (!pairs.TryGetValue("type", out var typePair))
        {
            throw Error(source, ruleLine, "this rule has no 'type' (file, pipe, socket or filedescriptor)");
        }

        if (!pairs.TryGetValue("action", out var actionPair))
        {
            throw Error(source, ruleLine, "this rule has no 'action' (error, ignore, close or reopen)");
        }

        PolicyType type = typePair.Value.ToLowerInvariant() switch
        {
            "file" => PolicyType.File,
            "pipe" => PolicyType.Pipe,
            "socket" => PolicyType.Socket,
            "filedescriptor" => PolicyType.FileDescriptor,
            _ => throw Error(source, typePair.Line, $"unknown type '{typePair.Value}' (use file, pipe, socket or filedescriptor)"),
        };
        PolicyAction action = actionPair.Value.ToLowerInvariant() switch
        {
            "error" => PolicyAction.Error,
            "ignore" => PolicyAction.Ignore,
            "close" => PolicyAction.Close,
            "reopen" => PolicyAction.Reopen,
            _ => throw Error(source, actionPair.Line, $"unknown action '{actionPair.Value}' (use error, ignore, close or reopen)"),
        };
        if (action == PolicyAction.Reopen && type != PolicyType.File)
        {
            throw Error(source, actionPair.Line, $"action reopen is only for files; a {typePair.Value.ToLowerInvariant()} can be error, ignore or close");
        }

        string[] allowed = type switch
        {
            PolicyType.File => ["path"],
            PolicyType.Pipe => [],
            PolicyType.Socket => ["family", "localAddress", "localPort", "remoteAddress", "remotePort", "localPath", "remotePath", "listening"],
            _ => ["value", "regex"],
        };
        foreach ((string key, (string _, int line)) in pairs)
        {
            if (key is not ("type" or "action" or "warn") && !allowed.Contains(key))
            {
                throw Error(source, line, $"'{key}' does not apply to type {typePair.Value.ToLowerInvariant()}" +
                    (allowed.Length > 0 ? $" (it takes: {string.Join(", ", allowed)})" : string.Empty));
            }
        }

        return new PolicyRule
        {
            Source = source,
            Index = index,
            Line = ruleLine,
            Type = type,
            Action = action,
            Warn = Optional(pairs, "warn", source, ParseBoolean) ?? true,
            Path = Optional(pairs, "path", source, Glob.ToRegex),
            Family = Optional(pairs, "family", source, ParseFamily),
            LocalAddress = Optional(pairs, "localAddress", source, ParseAddress),
            LocalPort = Optional(pairs, "localPort", source, ParsePort),
            RemoteAddress = Optional(pairs, "remoteAddress", source, ParseAddress),
            RemotePort = Optional(pairs, "remotePort", source, ParsePort),
            LocalPath = Optional(pairs, "localPath", source, Glob.ToRegex),
            RemotePath = Optional(pairs, "remotePath", source, Glob.ToRegex),
            Listening = Optional(pairs, "listening", source, ParseBoolean),
            Value = Optional(pairs, "value", source, ParseFd),
            Pattern = Optional(pairs, "regex", source, value => new Regex("^(?:" + value + ")$", RegexOptions.CultureInvariant)),
        };
    }

    private static T? Optional<T>(Dictionary<string, (string Value, int Line)> pairs, string key, string source, Func<string, T?> parse)
    {
        if (!pairs.TryGetValue(key, out var pair))
        {
            return default;
        }

        try
        {
            return parse(pair.Value);
        }
        catch (Exception exception) when (exception is FormatException or ArgumentException)
        {
            throw Error(source, pair.Line, $"bad {key} '{pair.Value}': {exception.Message}");
        }
    }

    private static bool? ParseBoolean(string value) => value.ToLowerInvariant() switch
    {
        "true" or "yes" => true,
        "false" or "no" => false,
        _ => throw new FormatException("expected true or false"),
    };

    private static string ParseFamily(string value) => value.ToLowerInvariant() switch
    {
        "ipv4" or "inet4" => "inet",
        "ipv6" or "inet6" => "inet6",
        "ip" or "inet" => "ip",
        "unix" => "unix",
        _ => throw new FormatException("expected ipv4, ipv6, ip or unix"),
    };

    private static string ParseAddress(string value) =>
        value == "*" || IPAddress.TryParse(value, out _) ? value : throw new FormatException("expected an IP address or *");

    private static int? ParsePort(string value) =>
        value == "*" ? null
        : int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int port) && port is > 0 and < 65536 ? port
        : throw new FormatException("expected a port number (1-65535) or *");

    private static int? ParseFd(string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int fd) ? fd : throw new FormatException("expected a file descriptor number");

    private static string Unquote(string value) =>
        value.Length >= 2 && (value[0] == '"' || value[0] == '\'') && value[^1] == value[0] ? value[1..^1] : value;

    private static PolicyFileException Error(string source, int line, string message) =>
        new($"Resource policies file {source}, line {line}: {message}.");
}
