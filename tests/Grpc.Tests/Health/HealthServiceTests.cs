using Grpc.Health.V1;
using Trellis.Grpc.Client;
using Trellis.Grpc.Health;
using Trellis.Grpc.Server;
using Trellis.Grpc.Tests.Infrastructure;
using ServingStatus = Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus;

namespace Trellis.Grpc.Tests.Health;

public sealed class HealthServiceTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Check_reports_per_service_status_and_not_found_for_unknown_services()
    {
        var health = new HealthService();
        await using var host = await GrpcTestHost.StartAsync(e => e.MapGrpcService(health.Definition));
        health.SetStatus("trellis.v1.Gateway", ServingStatus.NotServing);

        var server = await host.Channel.UnaryAsync(HealthService.CheckMethod, new HealthCheckRequest(), new CallOptions(cancellationToken: Ct));
        var gateway = await host.Channel.UnaryAsync(HealthService.CheckMethod, new HealthCheckRequest { Service = "trellis.v1.Gateway" }, new CallOptions(cancellationToken: Ct));
        var unknown = await Assert.ThrowsAsync<GrpcException>(() => host.Channel.UnaryAsync(HealthService.CheckMethod, new HealthCheckRequest { Service = "nope" }, new CallOptions(cancellationToken: Ct)));

        Assert.Equal(ServingStatus.Serving, server.Status);
        Assert.Equal(ServingStatus.NotServing, gateway.Status);
        Assert.Equal(StatusCode.NotFound, unknown.StatusCode);
        host.AssertNoErrorLogs();
    }

    [Fact]
    public async Task Watch_sends_the_current_status_then_every_change()
    {
        var health = new HealthService();
        await using var host = await GrpcTestHost.StartAsync(e => e.MapGrpcService(health.Definition));
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        using var call = host.Channel.ServerStreaming(HealthService.WatchMethod, new HealthCheckRequest { Service = "svc" }, new CallOptions(cancellationToken: cts.Token));
        await using var updates = call.ResponseStream.GetAsyncEnumerator(Ct);

        Assert.Equal(ServingStatus.ServiceUnknown, await NextAsync(updates, "the initial SERVICE_UNKNOWN"));
        health.SetStatus("svc", ServingStatus.Serving);
        Assert.Equal(ServingStatus.Serving, await NextAsync(updates, "SERVING after SetStatus"));
        health.SetStatus("svc", ServingStatus.Serving);
        health.SetStatus("svc", ServingStatus.NotServing);
        Assert.Equal(ServingStatus.NotServing, await NextAsync(updates, "NOT_SERVING (the repeated SERVING is not a change)"));
        health.ClearStatus("svc");
        Assert.Equal(ServingStatus.ServiceUnknown, await NextAsync(updates, "SERVICE_UNKNOWN after ClearStatus"));
        health.SetStatus("svc", ServingStatus.Serving);
        Assert.Equal(ServingStatus.Serving, await NextAsync(updates, "SERVING again"));
        health.EnterTerminalState();
        Assert.Equal(ServingStatus.NotServing, await NextAsync(updates, "NOT_SERVING on shutdown"));
        health.SetStatus("svc", ServingStatus.Serving);
        Assert.Equal(ServingStatus.NotServing, health.GetStatus("svc"));

        cts.Cancel();
        var error = await Assert.ThrowsAsync<GrpcException>(async () => await updates.MoveNextAsync());
        Assert.Equal(StatusCode.Cancelled, error.StatusCode);
        host.AssertNoErrorLogs();
    }

    private static async Task<ServingStatus> NextAsync(IAsyncEnumerator<HealthCheckResponse> updates, string expected)
    {
        Assert.True(await Wait.ForAsync(updates.MoveNextAsync(), expected), $"stream ended while waiting for {expected}");
        return updates.Current.Status;
    }
}
