namespace Crac.Protocol;

/// <summary>A command as `commands` lists it.</summary>
internal sealed record CommandDescription(string Name, string Description, string Arguments);
