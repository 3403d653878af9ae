// One process-wide global context: one checkpoint at a time.
[assembly: DoNotParallelize]
