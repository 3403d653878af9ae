namespace Crac.Engines.Criu;

/// <summary>No CRIU that can work here; the message says how to get one.</summary>
internal sealed class CriuUnavailableException(string message) : Exception(message);
