namespace Crac.Hosting;

/// <summary>
/// Pauses background work for a checkpoint. Wrap each unit of work of a hosted service, a timer
/// callback or a queue consumer in <see cref="BeginAsync"/>: before a checkpoint (once the server
/// has drained its requests) new units wait and the checkpoint waits for the running ones to end,
/// within its timeout; after the restore, or a failed checkpoint, the waiting units go on.
/// <c>AddCrac()</c> registers it as a singleton.
/// </summary>
/// <example>
/// <code>
/// while (await timer.WaitForNextTickAsync(stoppingToken))
/// {
///     using (await work.BeginAsync(stoppingToken))
///     {
///         await PollAsync(stoppingToken);
///     }
/// }
/// </code>
/// </example>
public sealed class BackgroundWork
{
    internal BackgroundWork(IWorkGate gate) => Gate = gate;

    internal IWorkGate Gate { get; }

    /// <summary>
    /// Begins a unit of work, waiting first while a checkpoint is in progress. Dispose the scope
    /// (once) when the unit ends.
    /// </summary>
    /// <param name="cancellationToken">Stops the wait (for example the host's stopping token).</param>
    public async ValueTask<Scope> BeginAsync(CancellationToken cancellationToken = default)
    {
        await Gate.EnterAsync(cancellationToken).ConfigureAwait(false);
        return new Scope(Gate);
    }

    /// <summary>A unit of work in progress; a checkpoint waits until it is disposed.</summary>
    public readonly struct Scope : IDisposable
    {
        private readonly IWorkGate? _gate;

        internal Scope(IWorkGate gate) => _gate = gate;

        /// <summary>Ends the unit of work.</summary>
        public void Dispose() => _gate?.Exit();
    }
}
