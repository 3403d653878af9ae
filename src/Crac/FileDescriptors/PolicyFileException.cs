namespace Crac.FileDescriptors;

/// <summary>The resource-policies file cannot be used; the message names the file and the line.</summary>
internal sealed class PolicyFileException(string message) : Exception(message);
