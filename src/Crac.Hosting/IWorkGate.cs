namespace Crac.Hosting;

/// <summary>
/// The seam between the hosting integration and the primitive that quiesces work for a checkpoint:
/// units of work enter and exit; a checkpoint closes the gate (new units wait, running ones are
/// waited for) and the restore opens it. <see cref="MonitorWorkGate"/> implements it with a lock
/// for now; the Crac library's checkpoint gate, whose hot path takes no shared lock, replaces it
/// here without any change to the public API.
/// </summary>
internal interface IWorkGate
{
    /// <summary>Units of work running now.</summary>
    int Running { get; }

    /// <summary>Waits while the gate is closed, then counts one unit of work as running.</summary>
    ValueTask EnterAsync(CancellationToken cancellationToken);

    /// <summary>Ends a unit of work that <see cref="EnterAsync"/> started.</summary>
    void Exit();

    /// <summary>Closes the gate and waits until no unit of work runs; on cancellation it opens the gate again and throws.</summary>
    Task CloseAsync(CancellationToken cancellationToken);

    /// <summary>Opens the gate: waiting units go on.</summary>
    void Open();
}
