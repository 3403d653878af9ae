namespace Crac.Configuration;

/// <summary>A policies file as the operator gave it to the tool: its name and its text, carried to the process in a request.</summary>
internal sealed record PolicyText(string Source, string Text);
