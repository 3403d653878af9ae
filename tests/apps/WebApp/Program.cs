using Crac;

// A minimal ASP.NET app for the file-descriptor tests (its runtime fds must never be flagged)
// and the restore-to-first-response benchmark. Its listening socket is left to CRIU by a
// resource policy (type: socket, listening: true, action: ignore), as CRIU 4.2 restores it.
var builder = WebApplication.CreateBuilder(args);
builder.Logging.ClearProviders();
builder.Logging.AddSimpleConsole();
var app = builder.Build();
long requests = 0;
app.MapGet("/", () => $"hello from {Environment.ProcessId}, generation {Core.Status.Generation}, request {Interlocked.Increment(ref requests)}\n");
app.Run();
