using Trellis.Api.Tests.Infrastructure;
using Trellis.TestKit;
using static Trellis.Api.Tests.Flows.FlowsTesting;

namespace Trellis.Api.Tests.Flows;

/// <summary>Nodes as participants in the all-in-one default (no RabbitMQ): two HTTP nodes wired by a graph.</summary>
public sealed class NodeFlowTests
{
    [Fact]
    public async Task Data_sent_on_an_outport_reaches_the_wired_inport_of_another_node()
    {
        await using var gateway = await TestGateway.StartAsync();
        await using var source = await PythonNode.StartAsync("source");
        await using var sink = await PythonNode.StartAsync("sink");
        var a = Unique("a");
        var b = Unique("b");
        var nodeA = await gateway.RegisterAsync(new { port = source.Port, role = a, outports = new object[] { new { id = "out" } } });
        await gateway.RegisterAsync(new { port = sink.Port, role = b, inports = new object[] { new { id = "in", path = "/echo" } } });
        await WaitForParticipantsAsync(gateway, a, b);

        var graph = Unique("flow");
        var setup = await gateway.SendAsync(HttpMethod.Put, $"/flows/graphs/{graph}", Graph([(a, "A"), (b, "B")], (a, "out", b, "in")), Admin);
        Assert.True(setup.Status == 200, setup.Body);
        Assert.Empty(setup.Json["pending"]!.AsArray());
        Assert.Equal($"PUBSUB: \t {a}.OUT -> {b}.IN", (string?)setup.Json["lines"]![0]);
        Assert.Equal("pubsub", (string?)setup.Json["bindings"]![0]!["type"]);

        for (var i = 0; i < 3; i++)
        {
            var sent = await gateway.PostAsync($"/nodes/{nodeA.Id}/outports/out", new { i }, nodeA.Token);
            Assert.True(sent.Status == 200, sent.Body);
        }

        await sink.WaitForCallsAsync("/echo", 3, "the sink's inport to get the three messages");
        var calls = await sink.CallsAsync("/echo");
        Assert.Equal([0, 1, 2], calls.Select(c => (int)c["body"]!["data"]!["i"]!).Order());
        Assert.All(calls, c => Assert.Equal($"{b}.IN", (string?)c["body"]!["topic"]));

        // Unwired: what the source sends no longer reaches the sink.
        Assert.Equal(200, (await gateway.DeleteAsync($"/flows/graphs/{graph}", Admin)).Status);
        var queue = $"{b}.IN";
        Assert.Equal(200, (await gateway.PostAsync($"/nodes/{nodeA.Id}/outports/out", new { i = 99 }, nodeA.Token)).Status);
        Assert.Equal(202, (await gateway.PostAsync($"/flows/queues/{queue}/messages", new { i = 100 }, Admin)).Status);
        await sink.WaitForCallsAsync("/echo", 4, "the message sent straight to the sink's queue");
        Assert.Equal(100, (int)(await sink.CallsAsync("/echo"))[^1]["body"]!["data"]!["i"]!);
    }

    [Fact]
    public async Task A_deleted_node_stops_taking_its_queue()
    {
        await using var gateway = await TestGateway.StartAsync();
        await using var sink = await PythonNode.StartAsync("sink");
        var b = Unique("b");
        var node = await gateway.RegisterAsync(new { port = sink.Port, role = b, inports = new object[] { new { id = "in", path = "/echo" } } });
        await WaitForParticipantsAsync(gateway, b);
        var queue = $"{b}.IN";
        Assert.Equal(202, (await gateway.PostAsync($"/flows/queues/{queue}/messages", new { n = 1 }, Admin)).Status);
        await sink.WaitForCallsAsync("/echo", 1, "the node to get the first message");

        // The delete answers once the node's consumer has stopped: what is sent from then on waits in the queue, and no
        // consumer of the deleted node takes it only to find the node gone.
        Assert.Equal(200, (await gateway.DeleteAsync($"/nodes/{node.Id}", node.Token)).Status);
        Assert.Equal(202, (await gateway.PostAsync($"/flows/queues/{queue}/messages", new { n = 2 }, Admin)).Status);
        // The first message is acknowledged once the gateway has the node's answer; a delete that comes between the
        // node's answer and that acknowledgement gives it back to the queue (at least once), so it may be dumped too, and
        // a message given back goes behind what is waiting, so the two may come in either order.
        var dumped = await gateway.SendAsync(HttpMethod.Post, $"/flows/queues/{queue}/dump?amount=2&timeout=3s", token: Admin);
        Assert.True(dumped.Status is 200 or 504, dumped.Body);
        var messages = (dumped.Status == 200 ? dumped.Json : dumped.Json["messages"])!.AsArray().Select(m => (int)m!["n"]!).ToArray();
        Assert.Single(messages, n => n == 2);
        Assert.All(messages, n => Assert.True(n is 1 or 2, $"dumped {string.Join(", ", messages)}"));
        Assert.DoesNotContain(gateway.Logs.Entries, e => e.Message.Contains($"was not delivered to node {node.Id}", StringComparison.Ordinal));
        Assert.Single(await sink.CallsAsync("/echo"));
    }
}
