using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;

namespace Crac.AspNetCore;

/// <summary>How a drained connection ended.</summary>
internal enum CloseKind
{
    /// <summary>Not closed by the drain (yet).</summary>
    None,

    /// <summary>Kestrel closed it after the response of its request in flight, which said <c>Connection: close</c>.</summary>
    AfterResponse,

    /// <summary>It was idle for the whole grace period; Kestrel closed it.</summary>
    Idle,

    /// <summary>An HTTP/2 connection: Kestrel sent GOAWAY, finished its streams and closed it.</summary>
    GoAway,
}

/// <summary>
/// One accepted connection, as the drain sees it: a feature of the connection, so the request
/// middleware finds it through the request's features (Kestrel falls back to the connection's).
/// </summary>
internal sealed class TrackedConnection(ConnectionContext connection, long acceptedAt)
{
    private int _requestsInFlight;
    private int _closeKind;

    public ConnectionContext Connection { get; } = connection;

    /// <summary>When it was accepted, or (during a drain) when it was last seen busy: Stopwatch ticks.</summary>
    public long LastActive = acceptedAt;

    public volatile bool IsHttp2;

    public int RequestsInFlight => Volatile.Read(ref _requestsInFlight);

    public CloseKind ClosedBy => (CloseKind)Volatile.Read(ref _closeKind);

    public int RequestStarted() => Interlocked.Increment(ref _requestsInFlight);

    public void RequestEnded(long now)
    {
        Interlocked.Decrement(ref _requestsInFlight);
        LastActive = now;
    }

    /// <summary>
    /// Asks Kestrel to close the connection gracefully (the feature Kestrel's own shutdown uses):
    /// HTTP/1.1 answers the request in flight with <c>Connection: close</c> and closes, or closes an
    /// idle connection; HTTP/2 sends GOAWAY and finishes its streams. Once per connection.
    /// </summary>
    public bool RequestClose(CloseKind kind)
    {
        if (Interlocked.CompareExchange(ref _closeKind, (int)kind, (int)CloseKind.None) != (int)CloseKind.None)
        {
            return false;
        }

        Connection.Features.Get<IConnectionLifetimeNotificationFeature>()?.RequestClose();
        return true;
    }
}
