using Serilog;

// SerilogFileLog <log file>: logs a line every 100 ms through Serilog's file sink.
Log.Logger = new LoggerConfiguration().WriteTo.File(args[0], flushToDiskInterval: TimeSpan.FromMilliseconds(50)).CreateLogger();
Console.WriteLine($"ready pid={Environment.ProcessId}");
for (long tick = 0; ; tick++)
{
    Log.Information("tick {Tick}", tick);
    Thread.Sleep(100);
}
