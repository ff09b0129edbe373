using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Trellis.Hosting.Cluster;
using Trellis.Hosting.Messaging;

namespace Trellis.Hosting.Health;

/// <summary>/healthz (the process is alive) and /readyz (the bus is up and its transport reachable, and the process is in
/// the cluster: an active silo, or a client connected to one).</summary>
public static class HealthEndpoints
{
    public static IEndpointRouteBuilder MapTrellisHealth(this IEndpointRouteBuilder endpoints, string role)
    {
        endpoints.MapGet("/healthz", () => Results.Json(new { status = "ok", role }));
        endpoints.MapGet("/readyz", async (HttpContext context) =>
        {
            // Ready is what the health check says (the same check drives grpc.health.v1); the rest of the body says why.
            var report = await context.RequestServices.GetRequiredService<HealthCheckService>()
                .CheckHealthAsync(static r => r.Tags.Contains(ReadinessCheck.Tag), context.RequestAborted);
            var ready = report.Status == HealthStatus.Healthy;
            // The check already asked the transport; its answer travels in the entry's data rather than being asked again.
            var transport = report.Entries.TryGetValue(ReadinessCheck.Name, out var entry)
                && entry.Data.TryGetValue(ReadinessCheck.TransportKey, out var state) && state is string text ? text : "unavailable";
            var cluster = context.RequestServices.GetService<ClusterReadiness>()?.State;
            var body = new { status = ready ? "ready" : "not ready", role, transport, cluster };
            return Results.Json(body, statusCode: ready ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable);
        });
        return endpoints;
    }

    /// <summary>Adds the readiness check (<see cref="ReadinessCheck"/>) that /readyz and grpc.health.v1 report.</summary>
    public static IHealthChecksBuilder AddTrellisReadiness(this IHealthChecksBuilder builder) =>
        builder.AddCheck<ReadinessCheck>(ReadinessCheck.Name, tags: [ReadinessCheck.Tag]);

    /// <summary>What /readyz answers: whether the bus is up and its transport reachable, and whether the process is in the
    /// cluster. The gRPC health service reports the same.</summary>
    internal static async Task<(bool TransportReady, bool Ready)> ReadinessAsync(IServiceProvider services, CancellationToken cancellationToken)
    {
        var host = services.GetRequiredService<BusHost>();
        var transportReady = host.Started.IsCompletedSuccessfully
            && await host.Bus.Transport.IsHealthyAsync(cancellationToken);
        var inCluster = services.GetService<ClusterReadiness>() is not { } cluster || await cluster.ReadyAsync(cancellationToken);
        return (transportReady, transportReady && inCluster);
    }

}

/// <summary>The one definition of ready: the bus is up and its transport reachable, and the process is in the cluster.</summary>
public sealed class ReadinessCheck(IServiceProvider services) : IHealthCheck
{
    public const string Name = "trellis-ready";

    public const string Tag = "ready";

    /// <summary>The key of the result's data that says whether the transport answered ("ok" or "unavailable").</summary>
    public const string TransportKey = "transport";

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            var (transportReady, ready) = await HealthEndpoints.ReadinessAsync(services, cancellationToken);
            var data = new Dictionary<string, object> { [TransportKey] = transportReady ? "ok" : "unavailable" };
            return ready
                ? HealthCheckResult.Healthy(data: data)
                : HealthCheckResult.Unhealthy("the bus, its transport or the cluster is not ready", data: data);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return HealthCheckResult.Unhealthy("the readiness check failed", e);
        }
    }
}
