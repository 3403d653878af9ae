namespace Crac.Agent;

/// <summary>
/// Closes the sessions of clients that died without stopping them: the runtime notices a dead
/// client only when it next writes to its socket, so while any session is open, write a small
/// event every half second. Idle (no session), it does nothing.
/// </summary>
internal sealed class SessionReaper(AgentEventSource events)
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(500);
    private int _running;

    public void EnsureRunning()
    {
        if (Interlocked.Exchange(ref _running, 1) == 0)
        {
            new Thread(Run) { IsBackground = true, Name = "crac-session-reaper" }.Start();
        }
    }

    private void Run()
    {
        try
        {
            // Two quiet checks in a row: IsEnabled can read false for a moment while a session closes.
            int quiet = 0;
            while (quiet < 2)
            {
                Thread.Sleep(Interval);
                if (events.IsEnabled())
                {
                    quiet = 0;
                    events.Heartbeat();
                }
                else
                {
                    quiet++;
                }
            }
        }
        finally
        {
            Volatile.Write(ref _running, 0);
        }

        // A session may have opened between the last check and the reset above.
        if (events.IsEnabled())
        {
            EnsureRunning();
        }
    }
}
