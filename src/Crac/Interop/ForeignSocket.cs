namespace Crac.Interop;

/// <summary>A socket another process holds, looked at through a copy of its fd (pidfd_getfd(2)).</summary>
internal static class ForeignSocket
{
    /// <summary>
    /// Whether the other end of a connected stream socket the process holds has been closed
    /// (POLLHUP: both directions shut). Null when the fd cannot be copied: pidfd_getfd needs
    /// Linux 5.6 and the right to ptrace the process.
    /// </summary>
    public static unsafe bool? PeerHasHungUp(int pid, int fd)
    {
        int pidfd = (int)Libc.syscall(Libc.SYS_pidfd_open, pid, 0, 0);
        if (pidfd < 0)
        {
            return null;
        }

        try
        {
            int copy = (int)Libc.syscall(Libc.SYS_pidfd_getfd, pidfd, fd, 0);
            if (copy < 0)
            {
                return null;
            }

            try
            {
                var descriptor = new Libc.PollFd { Fd = copy, Events = 0 };
                return Libc.poll(&descriptor, 1, 0) >= 0 ? (descriptor.ReturnedEvents & Libc.POLLHUP) != 0 : null;
            }
            finally
            {
                Libc.close(copy);
            }
        }
        finally
        {
            Libc.close(pidfd);
        }
    }
}
