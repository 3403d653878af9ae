namespace Crac.Hosting;

/// <summary>
/// Pauses background work for a checkpoint. Wrap each unit of work of a hosted service, a timer
/// callback or a queue consumer in <see cref="BeginAsync"/>: before a checkpoint (once the server
/// has drained its requests) new units wait and the checkpoint waits for the running ones to end,
/// within its timeout; after the restore, or a failed checkpoint, the waiting units go on.
/// <c>AddCrac()</c> registers it as a singleton. It is a <see cref="CheckpointGate"/> in the host's
/// background-work stage: beginning and ending a unit cost next to nothing.
/// </summary>
/// <example>
/// <code>
/// while (!stoppingToken.IsCancellationRequested)
/// {
///     using (await work.BeginAsync(stoppingToken))
///     {
///         await PollAsync(stoppingToken);
///     }
///
///     await Task.Delay(TimeSpan.FromSeconds(10), stoppingToken);
/// }
/// </code>
/// </example>
public sealed class BackgroundWork
{
    internal BackgroundWork() => Gate = new CheckpointGate("background work (BackgroundWork)");

    internal CheckpointGate Gate { get; }

    /// <summary>
    /// Begins a unit of work, waiting first while a checkpoint is in progress. Dispose the scope
    /// (once) when the unit ends.
    /// </summary>
    /// <param name="cancellationToken">Stops the wait (for example the host's stopping token).</param>
    public async ValueTask<Scope> BeginAsync(CancellationToken cancellationToken = default) =>
        new(await Gate.EnterAsync(cancellationToken).ConfigureAwait(false));

    /// <summary>A unit of work in progress; a checkpoint waits until it is disposed.</summary>
    public readonly struct Scope : IDisposable
    {
        private readonly CheckpointGate.Scope _passage;

        internal Scope(CheckpointGate.Scope passage) => _passage = passage;

        /// <summary>Ends the unit of work. Call it once: a copy disposed again would end it twice.</summary>
        public void Dispose() => _passage.Dispose();
    }
}
