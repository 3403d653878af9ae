namespace Crac.Protocol;

/// <summary>The 'fds' command takes no arguments.</summary>
internal sealed record FdsRequest;
