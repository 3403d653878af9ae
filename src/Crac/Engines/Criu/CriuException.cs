namespace Crac.Engines.Criu;

/// <summary>CRIU failed; the message carries its error lines and the fix.</summary>
internal sealed class CriuException(string message) : Exception(message);
