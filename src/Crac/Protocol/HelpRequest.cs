namespace Crac.Protocol;

/// <summary>The 'help' command takes no arguments.</summary>
internal sealed record HelpRequest;
