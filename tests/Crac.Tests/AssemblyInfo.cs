// The global context and the coordinator are process-wide, as in the JVM: tests take turns.
[assembly: DoNotParallelize]
