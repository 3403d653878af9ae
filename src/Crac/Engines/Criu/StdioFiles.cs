namespace Crac.Engines.Criu;

/// <summary>The files CRIU (and so a process it restores detached) gets as stdin, stdout and stderr.</summary>
internal sealed record StdioFiles(string Input, string Output, string Error);
