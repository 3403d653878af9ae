using Grpc.Core;
using Grpc.Net.Client;
using GrpcGreeter;

// GrpcGreeter --urls http://127.0.0.1:PORT       the service, over HTTP/2 without TLS
// GrpcGreeter --call http://127.0.0.1:PORT       a client on one channel, calling every 200 ms
if (args is ["--call", var address])
{
    using GrpcChannel channel = GrpcChannel.ForAddress(address);
    var client = new Greeter.GreeterClient(channel);
    for (int call = 0; ; call++)
    {
        try
        {
            HelloReply reply = await client.SayHelloAsync(new HelloRequest { Name = $"call {call}" }, deadline: DateTime.UtcNow.AddSeconds(5));
            Console.WriteLine($"reply {reply.Message}");
        }
        catch (RpcException exception)
        {
            Console.WriteLine($"failed {exception.StatusCode}");
        }

        await Task.Delay(200);
    }
}

WebApplicationBuilder builder = WebApplication.CreateBuilder(args);
builder.WebHost.ConfigureKestrel(kestrel => kestrel.ConfigureEndpointDefaults(endpoint => endpoint.Protocols = Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http2));
builder.Services.AddGrpc();
WebApplication app = builder.Build();
app.MapGrpcService<GreeterService>();
app.Lifetime.ApplicationStarted.Register(() => Console.WriteLine($"ready pid={Environment.ProcessId}"));
app.Run();

internal sealed class GreeterService : Greeter.GreeterBase
{
    private static long _served;

    public override Task<HelloReply> SayHello(HelloRequest request, ServerCallContext context) =>
        Task.FromResult(new HelloReply { Message = $"hello {request.Name} ({Interlocked.Increment(ref _served)} served)" });
}
