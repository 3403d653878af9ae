// Real processes, real CRIU, pids that must be free for a restore: one test at a time.
[assembly: DoNotParallelize]
