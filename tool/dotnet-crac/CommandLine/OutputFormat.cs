namespace Crac.Tool.CommandLine;

/// <summary>How a command prints its result: for people, or for scripts.</summary>
internal enum OutputFormat
{
    Text,
    Json,
}
