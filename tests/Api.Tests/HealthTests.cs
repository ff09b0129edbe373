using System.Net;
using System.Net.Sockets;
using Trellis.Api.Tests.Infrastructure;
using Trellis.Core.Nodes;
using Trellis.TestKit;

namespace Trellis.Api.Tests;

/// <summary>Health checks: ok, unavailable (subscriptions removed, then restored) and dirty (nothing listens).</summary>
public sealed class HealthTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;

    public async ValueTask InitializeAsync() => _gateway = await TestGateway.StartAsync();

    public async ValueTask DisposeAsync() => await _gateway.DisposeAsync();

    [Fact]
    public async Task A_failing_health_check_removes_the_subscriptions_until_the_node_answers_again()
    {
        await using var python = await PythonNode.StartAsync("health");
        var node = await _gateway.RegisterAsync(new
        {
            port = python.Port,
            slots = new object[] { new { topic = "health.signal", path = "/record" } },
            services = new object[] { new { topic = "health.echo", group = "_default", path = "/echo" } },
        });
        Assert.Equal("ok", node.Status);
        Assert.Equal(200, (await _gateway.PostAsync($"/request/{node.Id}", new { topic = "health.echo" }, node.Token)).Status);

        await python.SetHealthAsync("fail");
        await _gateway.WaitForStatusAsync(node.Id, NodeStatus.Unavailable, "health answers 500");
        Assert.Equal("unavailable", (string)(await _gateway.GetAsync($"/nodes/{node.Id}", node.Token)).Json["status"]!);
        var unavailable = await _gateway.PostAsync($"/request/{node.Id}", new { topic = "health.echo" }, node.Token);
        Assert.Equal(404, unavailable.Status);

        await python.SetHealthAsync("ok");
        await _gateway.WaitForStatusAsync(node.Id, NodeStatus.Ok, "health answers 200 again");
        Assert.Equal("ok", (string)(await _gateway.GetAsync($"/nodes/{node.Id}", node.Token)).Json["status"]!);
        Assert.Equal(200, (await _gateway.PostAsync($"/request/{node.Id}", new { topic = "health.echo" }, node.Token)).Status);
        Assert.Equal(200, (await _gateway.PostAsync($"/signal/{node.Id}", new { topic = "health.signal" }, node.Token)).Status);
        await python.WaitForCallsAsync("/record", 1, "the restored slot to get a signal");
        Assert.Contains(_gateway.Logs.Entries, e => e.Message.Contains($"Node {node.Id} is now unavailable", StringComparison.Ordinal));
        Assert.Contains(_gateway.Logs.Entries, e => e.Message.Contains($"Node {node.Id} is ok again", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_node_whose_health_fails_at_registration_is_unavailable_and_unsubscribed()
    {
        await using var python = await PythonNode.StartAsync("sick");
        await python.SetHealthAsync("fail");
        var node = await _gateway.RegisterAsync(new { port = python.Port, services = new object[] { new { topic = "sick.echo", group = "_default", path = "/echo" } } });
        Assert.Equal("unavailable", node.Status);
        Assert.Equal(404, (await _gateway.PostAsync($"/request/{node.Id}", new { topic = "sick.echo" }, node.Token)).Status);

        await python.SetHealthAsync("ok");
        await _gateway.WaitForStatusAsync(node.Id, NodeStatus.Ok, "the node's health answers 200");
        Assert.Equal(200, (await _gateway.PostAsync($"/request/{node.Id}", new { topic = "sick.echo" }, node.Token)).Status);
    }

    [Fact]
    public async Task Deleting_a_node_leaves_its_running_calls_alone()
    {
        await using var python = await PythonNode.StartAsync("busy");
        var node = await _gateway.RegisterAsync(new { port = python.Port, services = new object[] { new { topic = "busy.slow", group = "_default", path = "/slow", timeout = 0.5 } } });
        var running = _gateway.PostAsync($"/request/{node.Id}", new { topic = "busy.slow", timeout = 30 }, TestGateway.AdminToken);
        await python.WaitForCallsAsync("/slow", 1, "the slow call to start");
        Assert.Equal(200, (await _gateway.DeleteAsync($"/nodes/{node.Id}", node.Token)).Status);

        // The call runs on to its own timeout (504) instead of being cut by the deletion (which would fail it with 500).
        var reply = await running;
        Assert.Equal(504, reply.Status);
        Assert.Contains($"no node with id {node.Id}", (await _gateway.PostAsync($"/request/{node.Id}", new { topic = "busy.slow" }, TestGateway.AdminToken)).ErrorMessage);
    }

    [Fact]
    public async Task A_health_check_that_hangs_counts_as_unavailable()
    {
        await using var gateway = await TestGateway.StartAsync(settings: new Dictionary<string, string?> { ["Trellis:Nodes:HealthTimeout"] = "00:00:00.3" });
        await using var python = await PythonNode.StartAsync("hangs");
        var node = await gateway.RegisterAsync(new { port = python.Port });
        await python.SetHealthAsync("hang");
        await gateway.WaitForStatusAsync(node.Id, NodeStatus.Unavailable, "health hangs past its timeout");
    }

    [Fact]
    public async Task A_port_with_no_listener_is_dirty_from_registration_on()
    {
        var port = FreePort();
        var node = await _gateway.RegisterAsync(new { port, services = new object[] { new { topic = "dirty.echo", group = "_default", path = "/echo" } } });
        Assert.Equal("dirty", node.Status);
        Assert.Equal("dirty", (string)(await _gateway.GetAsync($"/nodes/{node.Id}", node.Token)).Json["status"]!);

        // All activity for it stops: nothing is subscribed.
        Assert.Equal(404, (await _gateway.PostAsync($"/request/{node.Id}", new { topic = "dirty.echo" }, node.Token)).Status);
    }

    [Fact]
    public async Task A_node_that_dies_becomes_dirty_and_a_delivery_to_it_is_a_503()
    {
        // No periodic health checks: the deliveries find out that the node died, not a checker racing them (a check that
        // unsubscribes the node while a request waits in its queue leaves that request to its requester's timeout).
        await using var gateway = await TestGateway.StartAsync(settings: new Dictionary<string, string?> { ["Trellis:Nodes:HealthInterval"] = "01:00:00" });
        var python = await PythonNode.StartAsync("dies");
        var node = await gateway.RegisterAsync(new { port = python.Port, services = new object[] { new { topic = "dies.echo", group = "_default", path = "/echo" } } });
        Assert.Equal("ok", node.Status);
        await python.KillAsync();
        await python.DisposeAsync();

        // A delivery that finds the port closed is 503 and marks the node dirty. The first one may instead go out on the
        // connection the registration's health check left open, which the node's death broke: 503 too, not a refusal.
        var refused = false;
        for (var i = 0; i < 2 && !refused; i++)
        {
            var reply = await gateway.PostAsync($"/request/{node.Id}", new { topic = "dies.echo" }, node.Token);
            Assert.True(reply.Status == 503 && (int)reply.Json["code"]! == 503, $"request {i + 1} to a dead node answered {reply}");
            var data = (string)reply.Json["messages"]![0]!["data"]!;
            Assert.Contains($"node {node.Id} is unavailable", data);
            refused = data.Contains("it refused the connection", StringComparison.Ordinal);
        }

        Assert.True(refused, "neither request found the dead node's port closed");
        await AppsApiTests.Eventually(async () => (string?)(await gateway.GetAsync($"/nodes/{node.Id}", node.Token)).Json["status"] == "dirty",
            $"node {node.Id} to be marked dirty by the refused delivery");
        Assert.Equal(404, (await gateway.PostAsync($"/request/{node.Id}", new { topic = "dies.echo" }, node.Token)).Status);
        Assert.Contains(gateway.Logs.Entries, e => e.Message.Contains($"Node {node.Id} is now dirty", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_node_killed_while_it_handles_a_request_answers_it_with_503_not_a_handler_error()
    {
        var python = await PythonNode.StartAsync("killed");
        var node = await _gateway.RegisterAsync(new { port = python.Port, services = new object[] { new { topic = "killed.slow", group = "_default", path = "/slow", timeout = 60 } } });
        var pending = _gateway.PostAsync($"/request/{node.Id}", new { topic = "killed.slow" }, node.Token);
        await python.WaitForCallsAsync("/slow", 1, "the request to reach the node");
        await python.KillAsync(); // SIGKILL: the connection ends without an answer
        await python.DisposeAsync();

        var reply = await pending.Within("the request whose node was killed to be answered");
        Assert.True(reply.Status == 503, $"a request whose node was killed while handling it answered {reply}");
        Assert.Equal(503, (int)reply.Json["code"]!);
        var data = (string)reply.Json["messages"]![0]!["data"]!;
        Assert.Contains($"node {node.Id} is unavailable: the connection to port", data);
    }

    internal static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
