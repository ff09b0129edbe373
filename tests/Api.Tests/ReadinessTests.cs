using System.Text.Json.Nodes;
using Trellis.Api.Tests.Infrastructure;

namespace Trellis.Api.Tests;

/// <summary>/readyz: ready means the bus is up and the process is in the cluster: an active silo, or a client connected to one.</summary>
public sealed class ReadinessTests
{
    private static async Task<(int Status, JsonObject Body)> ReadyAsync(TestGateway process)
    {
        var response = await process.GetAsync("/readyz", token: null);
        return (response.Status, JsonNode.Parse(response.Body)!.AsObject());
    }

    [Fact]
    public async Task A_silo_is_ready_once_it_is_an_active_member_of_its_cluster()
    {
        await using var silo = await TestGateway.StartAsync();
        var (status, body) = await ReadyAsync(silo);
        Assert.Equal(200, status);
        Assert.Equal("ready", (string)body["status"]!);
        Assert.Equal("silo", (string)body["role"]!);
        Assert.Equal("ok", (string)body["transport"]!);
        Assert.Equal("active", (string)body["cluster"]!);
    }

    [Fact]
    public async Task A_gateway_is_ready_once_it_is_connected_to_a_silo()
    {
        await using var silo = await TestGateway.StartAsync();
        await using var gateway = await TestGateway.StartAsync(role: "gateway", clusterOf: silo);
        var (status, body) = await ReadyAsync(gateway);
        Assert.Equal(200, status);
        Assert.Equal("gateway", (string)body["role"]!);
        Assert.Equal("ok", (string)body["transport"]!);
        Assert.Equal("connected", (string)body["cluster"]!);
    }

    [Fact]
    public async Task A_gateway_whose_silos_are_gone_is_not_ready()
    {
        var silo = await TestGateway.StartAsync();
        await using var gateway = await TestGateway.StartAsync(role: "gateway", clusterOf: silo);
        // Its client complains while the silo is away; that is what this test is about.
        gateway.ExpectedErrors.Add("");
        Assert.Equal(200, (await ReadyAsync(gateway)).Status);

        await silo.DisposeAsync();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        (int Status, JsonObject Body) ready;
        do
        {
            ready = await ReadyAsync(gateway);
        }
        while (ready.Status != 503 && DateTime.UtcNow < deadline && await Delay());

        Assert.True(ready.Status == 503, $"the gateway's /readyz with its only silo gone: {ready.Status} {ready.Body}");
        Assert.Equal("unreachable", (string)ready.Body["cluster"]!);
    }

    private static async Task<bool> Delay()
    {
        await Task.Delay(200, TestContext.Current.CancellationToken);
        return true;
    }
}
