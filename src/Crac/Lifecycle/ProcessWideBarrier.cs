using System.Runtime.InteropServices;
using Crac.Interop;

namespace Crac.Lifecycle;

/// <summary>
/// A full fence on every thread of the process, for the gate's close: <c>membarrier(2)</c>'s
/// private expedited command, which interrupts each CPU running one of the process's threads.
/// </summary>
internal static class ProcessWideBarrier
{
    public static void Run()
    {
        if (Membarrier(Libc.MEMBARRIER_CMD_PRIVATE_EXPEDITED))
        {
            return;
        }

        // EPERM: the process is not registered. The runtime registers at start and CRIU 4.2 restores
        // the registration, but another restorer may not, and the runtime's own barrier
        // (Interlocked.MemoryBarrierProcessWide) would then fail: silently where its check is a
        // debug assert (the GC's and minipal's copies), fatally where it is the PAL's FATAL_ASSERT.
        if (Marshal.GetLastPInvokeError() == Libc.EPERM
            && Membarrier(Libc.MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED)
            && Membarrier(Libc.MEMBARRIER_CMD_PRIVATE_EXPEDITED))
        {
            return;
        }

        // A kernel without it: the runtime's fallback (a page's protection changed, which
        // interrupts every CPU that runs one of the process's threads).
        Interlocked.MemoryBarrierProcessWide();
    }

    private static bool Membarrier(long command) => Libc.SYS_membarrier >= 0 && Libc.syscall(Libc.SYS_membarrier, command, 0, 0) == 0;
}
