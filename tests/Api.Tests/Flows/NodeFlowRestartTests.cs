using Trellis.Api.Tests.Infrastructure;
using Trellis.Core.Nodes;
using Trellis.TestKit;
using static Trellis.Api.Tests.Flows.FlowsTesting;

namespace Trellis.Api.Tests.Flows;

/// <summary>A node's flow ports are kept in its record: after a gateway restart on the same data its inqueue is
/// declared, consumed and announced again without the node registering again.</summary>
public sealed class NodeFlowRestartTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "trellis-api-tests-" + Guid.NewGuid().ToString("N"));

    private string DbPath => Path.Combine(_folder, "trellis.db");

    public void Dispose()
    {
        if (Directory.Exists(_folder))
        {
            Directory.Delete(_folder, recursive: true);
        }
    }

    [Fact]
    public async Task A_node_with_ports_takes_its_inqueue_again_after_a_restart()
    {
        await using var sink = await PythonNode.StartAsync("sink");
        var role = Unique("restored");
        var queue = $"{role}.IN";
        RegisteredNode node;
        await using (var first = await TestGateway.StartAsync(DbPath))
        {
            node = await first.RegisterAsync(new
            {
                port = sink.Port,
                role,
                component = "test/Sink",
                inports = new object[] { new { id = "in", path = "/echo", type = "object", description = "what the sink takes" } },
                outports = new object[] { new { id = "out" } },
            });
            await WaitForParticipantsAsync(first, role);
            Assert.Equal(202, (await first.PostAsync($"/flows/queues/{queue}/messages", new { n = 1 }, Admin)).Status);
            await sink.WaitForCallsAsync("/echo", 1, "the node to get a message before the restart");
        }

        await using var second = await TestGateway.StartAsync(DbPath);
        await second.WaitForStatusAsync(node.Id, NodeStatus.Ok, "the restored node's first health check");
        await WaitForParticipantsAsync(second, role);
        var participant = (await second.GetAsync("/flows/participants", Admin)).Json.AsArray().Single(p => (string?)p!["role"] == role)!;
        Assert.Equal("test/Sink", (string?)participant["component"]);
        Assert.Equal("object", (string?)participant["inports"]![0]!["type"]);
        Assert.Equal("out", (string?)participant["outports"]![0]!["id"]);

        await Waits.UntilAsync(
            async () => (await second.PostAsync($"/flows/queues/{queue}/messages", new { n = 2 }, Admin)).Status, s => s == 202,
            $"the restored gateway to accept a message on {queue}");
        await sink.WaitForCallsAsync("/echo", 2, "the restored node to get the message sent to its inqueue after the restart");
        Assert.Equal(2, (int)(await sink.CallsAsync("/echo"))[^1]["body"]!["data"]!["n"]!);

        // The outport works again too.
        Assert.Equal(200, (await second.PostAsync($"/nodes/{node.Id}/outports/out", new { n = 3 }, node.Token)).Status);
    }
}
