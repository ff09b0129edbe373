using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Trellis.Hosting.Messaging;

namespace Trellis.Hosting.Health;

/// <summary>/healthz (the process is alive) and /readyz (the bus is up and its transport reachable).</summary>
public static class HealthEndpoints
{
    public static IEndpointRouteBuilder MapTrellisHealth(this IEndpointRouteBuilder endpoints, string role)
    {
        endpoints.MapGet("/healthz", () => Results.Json(new { status = "ok", role }));
        endpoints.MapGet("/readyz", async (HttpContext context) =>
        {
            var host = context.RequestServices.GetRequiredService<BusHost>();
            var transportReady = host.Started.IsCompletedSuccessfully
                && await host.Bus.Transport.IsHealthyAsync(context.RequestAborted);
            var body = new { status = transportReady ? "ready" : "not ready", role, transport = transportReady ? "ok" : "unavailable" };
            return Results.Json(body, statusCode: transportReady ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable);
        });
        return endpoints;
    }
}
