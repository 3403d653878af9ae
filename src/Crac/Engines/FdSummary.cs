namespace Crac.Engines;

/// <summary>
/// What the checkpoint's fd checks found that decides an engine's automatic flags. Unknown (no
/// checks ran: the agent is not loaded) turns every automatic flag off, so CRIU refuses rather
/// than takes along or closes anything unexamined.
/// </summary>
internal sealed record FdSummary(bool HoldsFileLocks, bool ServesTcp, bool HoldsOutboundConnections)
{
    public static readonly FdSummary Unknown = new(false, false, false);
}
