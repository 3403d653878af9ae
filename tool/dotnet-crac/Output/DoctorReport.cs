namespace Crac.Tool.Output;

/// <summary>The result of <c>dotnet crac doctor</c>.</summary>
internal sealed record DoctorReport(bool Usable, string? CriuPath, string? CriuVersion, IReadOnlyList<DoctorCheck> Checks);
