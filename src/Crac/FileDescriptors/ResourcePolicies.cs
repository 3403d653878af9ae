using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;

namespace Crac.FileDescriptors;

internal enum PolicyType
{
    File,
    Pipe,
    Socket,
    FileDescriptor,
}

internal enum PolicyAction
{
    /// <summary>Fail the checkpoint (the default for any blocking fd).</summary>
    Error,

    /// <summary>Leave the fd to the engine (CRIU validates and reopens it at restore).</summary>
    Ignore,

    /// <summary>Close the fd before the checkpoint; the number stays occupied so the owner does not break.</summary>
    Close,

    /// <summary>Close the fd before the checkpoint and reopen it, at the same position and number, after restore.</summary>
    Reopen,
}

/// <summary>One rule of a resource-policies file.</summary>
internal sealed class PolicyRule
{
    public required int Index { get; init; }

    public required int Line { get; init; }

    public required PolicyType Type { get; init; }

    public required PolicyAction Action { get; init; }

    public bool Warn { get; init; } = true;

    public Regex? Path { get; init; }

    public string? Family { get; init; }

    public string? LocalAddress { get; init; }

    public int? LocalPort { get; init; }

    public string? RemoteAddress { get; init; }

    public int? RemotePort { get; init; }

    public Regex? LocalPath { get; init; }

    public Regex? RemotePath { get; init; }

    public bool? Listening { get; init; }

    public int? Value { get; init; }

    public Regex? Pattern { get; init; }

    public string Describe() => $"policy rule {Index} (line {Line}): {Action.ToString().ToLowerInvariant()}";

    public bool Matches(FdEntry entry) => Type switch
    {
        // Named pipes are handled with the type file, as in CRaC.
        PolicyType.File => entry.Kind is FdKind.File or FdKind.Directory or FdKind.Fifo && (Path?.IsMatch(entry.Path!) ?? true),
        PolicyType.Pipe => entry.Kind == FdKind.Pipe,
        PolicyType.Socket => entry.Socket is { } socket && MatchesSocket(socket),
        _ => entry.Kind is not (FdKind.File or FdKind.Directory or FdKind.Fifo or FdKind.Pipe) && entry.Socket is null
             && (Value is null || Value == entry.Fd)
             && (Pattern?.IsMatch(entry.Target) ?? true),
    };

    private bool MatchesSocket(SocketEndpoint socket) =>
        (Family is null || Family == socket.Family || (Family == "ip" && socket.Family is "inet" or "inet6"))
        && AddressMatches(LocalAddress, socket.LocalAddress)
        && (LocalPort is null || LocalPort == socket.LocalPort)
        && AddressMatches(RemoteAddress, socket.RemoteAddress)
        && (RemotePort is null || RemotePort == socket.RemotePort)
        && (LocalPath is null || (socket.LocalPath is { } local && LocalPath.IsMatch(local)))
        && (RemotePath is null || (socket.RemotePath is { } remote && RemotePath.IsMatch(remote)))
        && (Listening is null || Listening == socket.Listening);

    private static bool AddressMatches(string? wanted, string? actual) =>
        wanted is null or "*"
        || (actual is not null && IPAddress.TryParse(wanted, out IPAddress? a) && IPAddress.TryParse(actual, out IPAddress? b) && a.Equals(b))
        || string.Equals(wanted, actual, StringComparison.OrdinalIgnoreCase);
}

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

    /// <summary>Reads the file CRAC_RESOURCE_POLICIES names, or returns null when it names none.</summary>
    /// <exception cref="PolicyFileException">The file cannot be read or is malformed.</exception>
    public static ResourcePolicies? Load()
    {
        string? path = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (string.IsNullOrWhiteSpace(path))
        {
            return null;
        }

        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            throw new PolicyFileException($"Cannot read the resource policies file {path} ({EnvironmentVariable}): {exception.Message}");
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

/// <summary>The resource-policies file cannot be used; the message names the file and the line.</summary>
internal sealed class PolicyFileException(string message) : Exception(message);
