using System.Reflection;

namespace Crac.Runtime;

/// <summary>
/// The runtime keeps the PDB of every assembly it has printed a stack trace with line numbers
/// for open, with a shared file lock (System.Diagnostics.StackTraceSymbols). CRIU refuses file
/// locks, and any app that logs an exception has them: release the cache before a checkpoint.
/// It refills by itself the next time a stack trace needs it.
/// </summary>
internal sealed class StackTraceSymbolCache : IResource
{
    public static StackTraceSymbolCache Instance { get; } = new();

    public Task BeforeCheckpointAsync(Context context, CancellationToken cancellationToken)
    {
        // Private runtime state, so looked up defensively: if it moves, the fd check still
        // reports the PDBs and the checkpoint fails with a clear message rather than crashing.
        Type? helper = Type.GetType("System.Diagnostics.StackFrameHelper, System.Private.CoreLib");
        object? cache = helper?.GetField("s_stackTraceSymbolsCache", BindingFlags.Static | BindingFlags.NonPublic)?.GetValue(null);
        (cache as IDisposable)?.Dispose();
        return Task.CompletedTask;
    }

    public Task AfterRestoreAsync(Context context, CancellationToken cancellationToken) => Task.CompletedTask;

    public override string ToString() => "the runtime's stack-trace symbol cache";
}
