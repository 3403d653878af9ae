namespace Crac.Tool.Output;

/// <summary>One check of <c>dotnet crac doctor</c>: what was looked at, and the fix when it failed.</summary>
internal sealed record DoctorCheck(string Name, bool Ok, string Detail, string? Fix);
