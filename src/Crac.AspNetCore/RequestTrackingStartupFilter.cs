using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace Crac.AspNetCore;

/// <summary>
/// The first middleware of the pipeline: counts each connection's requests in flight, and during a
/// drain asks Kestrel to end the connection after the response of a request that arrives on it, so
/// the client is told <c>Connection: close</c> rather than finding its next request cut off.
/// </summary>
internal sealed class RequestTrackingStartupFilter(KestrelDrain drain) : IStartupFilter
{
    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        app.Use(TrackAsync);
        next(app);
    };

    private async Task TrackAsync(HttpContext context, RequestDelegate next)
    {
        TrackedConnection? connection = context.Features.Get<TrackedConnection>();
        if (connection is null)
        {
            await next(context).ConfigureAwait(false);
            return;
        }

        connection.RequestStarted();
        if (drain.IsDraining)
        {
            drain.OnRequestDuringDrain(connection, context);
        }
        else if (!connection.IsHttp2 && HttpProtocol.IsHttp2(context.Request.Protocol))
        {
            connection.IsHttp2 = true;
        }

        try
        {
            await next(context).ConfigureAwait(false);
        }
        finally
        {
            connection.RequestEnded(Stopwatch.GetTimestamp());
        }
    }
}
