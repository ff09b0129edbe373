using Trellis.Api.Tests.Infrastructure;
using Trellis.Core.Nodes;
using Trellis.TestKit;

namespace Trellis.Api.Tests;

/// <summary>The whole flow with two real Python nodes: request/reply, a shared group, wildcard signals, a handler timeout,
/// and one node failing its health check and recovering while the other carries on.</summary>
public sealed class TwoNodeFlowTests
{
    [Fact]
    public async Task Two_python_nodes_through_the_whole_flow()
    {
        await using var gateway = await TestGateway.StartAsync();
        await using var left = await PythonNode.StartAsync("left");
        await using var right = await PythonNode.StartAsync("right");
        object Registration(PythonNode node) => new
        {
            port = node.Port,
            health_check = "/health",
            slots = new object[] { new { topic = "flow.events.*", path = "/record" } },
            services = new object[]
            {
                new { topic = "flow.work", group = "workers", path = "/echo", timeout = 10 },
                new { topic = "flow.slow." + node.Name, group = "_default", path = "/slow", timeout = 0.3 },
            },
        };

        var l = await gateway.RegisterAsync(Registration(left));
        var r = await gateway.RegisterAsync(Registration(right));
        Assert.Equal(["ok", "ok"], new[] { l.Status, r.Status });

        // Request/reply, with the group executing each request once between the two nodes.
        for (var i = 0; i < 6; i++)
        {
            var reply = await gateway.PostAsync($"/request/{l.Id}", new { topic = "flow.work", message = new { i } }, l.Token);
            Assert.Equal(200, reply.Status);
            Assert.Equal(i, (int)reply.Json["messages"]![0]!["data"]!["data"]!["i"]!);
        }

        var leftEchoes = await left.CallsAsync("/echo");
        var rightEchoes = await right.CallsAsync("/echo");
        Assert.Equal(6, leftEchoes.Count + rightEchoes.Count);
        Assert.NotEmpty(leftEchoes);
        Assert.NotEmpty(rightEchoes);

        // A wildcard signal reaches both nodes' slots.
        Assert.Equal(200, (await gateway.PostAsync($"/signal/{r.Id}", new { topic = "flow.events.started", message = "go" }, r.Token)).Status);
        await left.WaitForCallsAsync("/record", 1, "left's slot to get the signal");
        await right.WaitForCallsAsync("/record", 1, "right's slot to get the signal");

        // A handler past its timeout: 504, and the node sees its connection closed.
        var slow = await gateway.PostAsync($"/request/{r.Id}", new { topic = "flow.slow.right" }, r.Token);
        Assert.Equal(504, slow.Status);
        await right.WaitForAsync(e => (string?)e["event"] == "closed", "the gateway to close the timed-out connection");

        // Left fails its health check: its subscriptions go, right serves the whole group alone.
        await left.SetHealthAsync("fail");
        await gateway.WaitForStatusAsync(l.Id, NodeStatus.Unavailable, "left's health answers 500");
        var leftCalls = (await left.CallsAsync("/echo")).Count;
        for (var i = 0; i < 4; i++)
        {
            var reply = await gateway.PostAsync($"/request/{r.Id}", new { topic = "flow.work", message = new { i } }, r.Token);
            Assert.Equal("right", (string)reply.Json["messages"]![0]!["data"]!["node"]!);
        }

        Assert.Equal(leftCalls, (await left.CallsAsync("/echo")).Count);
        Assert.Equal(404, (await gateway.PostAsync($"/request/{r.Id}", new { topic = "flow.slow.left" }, r.Token)).Status);

        // Left recovers: its subscriptions are back and the group spreads over both again.
        await left.SetHealthAsync("ok");
        await gateway.WaitForStatusAsync(l.Id, NodeStatus.Ok, "left's health answers 200 again");
        var answeredBy = new HashSet<string>();
        for (var i = 0; i < 6; i++)
        {
            var reply = await gateway.PostAsync($"/request/{r.Id}", new { topic = "flow.work", message = new { i } }, r.Token);
            answeredBy.Add((string)reply.Json["messages"]![0]!["data"]!["node"]!);
        }

        Assert.Equal(["left", "right"], answeredBy.Order());
        Assert.Equal(200, (await gateway.PostAsync($"/signal/{l.Id}", new { topic = "flow.events.done" }, l.Token)).Status);
        await left.WaitForCallsAsync("/record", 2, "left's restored slot to get the second signal");
    }
}
