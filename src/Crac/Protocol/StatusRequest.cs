namespace Crac.Protocol;

/// <summary>The 'status' command takes no arguments.</summary>
internal sealed record StatusRequest;
