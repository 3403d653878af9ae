using System.Net;
using System.Text.RegularExpressions;

namespace Crac.FileDescriptors;

/// <summary>One rule of a resource-policies file.</summary>
internal sealed class PolicyRule
{
    public required int Index { get; init; }

    public required int Line { get; init; }

    /// <summary>The file the rule comes from.</summary>
    public required string Source { get; init; }

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

    public string Describe() => $"policy rule {Index} of {Source} (line {Line}): {Diagnostics.WireNames.Of(Action)}";

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
