using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Trellis.Api.Tests.Infrastructure;
using Trellis.Flows.Broker;
using Trellis.Flows.Networks;
using static Trellis.Api.Tests.Flows.FlowsTesting;

namespace Trellis.Api.Tests.Flows.Fbp;

/// <summary>Graph edits over /fbp that name a port: refused with an <c>error</c> naming the node and port when the
/// node's participant is discovered and lacks it, accepted for a node whose participant has not appeared (pending).</summary>
public sealed class FbpPortTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;

    public async ValueTask InitializeAsync() => _gateway = await TestGateway.StartAsync();

    public async ValueTask DisposeAsync() => await _gateway.DisposeAsync();

    private static JsonObject Port(string node, string port) => new() { ["node"] = node, ["port"] = port };

    [Fact]
    public async Task An_edit_naming_a_port_a_discovered_participant_lacks_is_an_error_and_changes_nothing()
    {
        var ct = TestContext.Current.CancellationToken;
        var id = Guid.NewGuid().ToString("N")[..10];
        var graph = $"fbp-ports-{id}";
        var (repeat, drop, later) = ($"repeat{id}", $"drop{id}", $"later{id}");
        var broker = _gateway.Services.GetRequiredService<IFlowBroker>();
        await using var p1 = await TestParticipant.StartAsync(broker, repeat, $"lib{id}/Repeat", repeat: true, ct);
        await using var p2 = await TestParticipant.StartAsync(broker, drop, $"lib{id}/Drop", repeat: false, ct);
        await WaitForParticipantsAsync(_gateway, repeat, drop);
        await using var client = await FbpClient.ConnectAsync(_gateway);

        await client.RequestAsync("graph", "clear", new JsonObject { ["id"] = graph });
        await client.RequestAsync("graph", "addnode", new JsonObject { ["id"] = repeat, ["component"] = $"lib{id}/Repeat", ["graph"] = graph });
        await client.RequestAsync("graph", "addnode", new JsonObject { ["id"] = drop, ["component"] = $"lib{id}/Drop", ["graph"] = graph });
        await client.RequestAsync("graph", "addnode", new JsonObject { ["id"] = later, ["component"] = $"lib{id}/Later", ["graph"] = graph });

        var badTarget = await client.ErrorAsync("graph", "addedge", new JsonObject { ["src"] = Port(repeat, "out"), ["tgt"] = Port(drop, "data"), ["graph"] = graph });
        Assert.Contains($"role '{drop}') has no inport 'data' (its inports are in)", badTarget);
        var badSource = await client.ErrorAsync("graph", "addedge", new JsonObject { ["src"] = Port(drop, "out"), ["tgt"] = Port(repeat, "in"), ["graph"] = graph });
        Assert.Contains($"role '{drop}') has no outport 'out' (it has no outports)", badSource);
        var badInitial = await client.ErrorAsync("graph", "addinitial", new JsonObject { ["src"] = new JsonObject { ["data"] = 5 }, ["tgt"] = Port(repeat, "times"), ["graph"] = graph });
        Assert.Contains($"initial packet to {repeat}.times", badInitial);
        Assert.Contains("has no inport 'times'", badInitial);
        var badInport = await client.ErrorAsync("graph", "addinport", new JsonObject { ["public"] = "start", ["node"] = repeat, ["port"] = "go", ["graph"] = graph });
        Assert.Contains($"exported inport 'start': participant", badInport);
        Assert.Contains($"role '{repeat}') has no inport 'go'", badInport);
        var badOutport = await client.ErrorAsync("graph", "addoutport", new JsonObject { ["public"] = "result", ["node"] = repeat, ["port"] = "in", ["graph"] = graph });
        Assert.Contains($"role '{repeat}') has no outport 'in' (its outports are out)", badOutport);

        var networks = _gateway.Services.GetRequiredService<IFlowNetworks>();
        var unchanged = await networks.GetGraphAsync(graph, ct);
        Assert.Empty(unchanged.Connections);
        Assert.Empty(unchanged.Inports);
        Assert.Empty(unchanged.Outports);

        // The ports of a node whose participant has not appeared are not known yet: anything goes, and it is pending.
        await client.RequestAsync("graph", "addedge", new JsonObject { ["src"] = Port(repeat, "out"), ["tgt"] = Port(later, "whatever"), ["graph"] = graph });
        await client.RequestAsync("graph", "addinitial", new JsonObject { ["src"] = new JsonObject { ["data"] = 1 }, ["tgt"] = Port(later, "config"), ["graph"] = graph });
        await client.RequestAsync("graph", "addoutport", new JsonObject { ["public"] = "result", ["node"] = later, ["port"] = "done", ["graph"] = graph });

        // Ports the participants have are accepted and wired.
        var edge = await client.RequestAsync("graph", "addedge", new JsonObject { ["src"] = Port(repeat, "OUT"), ["tgt"] = Port(drop, "in"), ["graph"] = graph });
        Assert.Equal(repeat, (string?)edge["src"]!["node"]);
        await client.RequestAsync("graph", "addinport", new JsonObject { ["public"] = "start", ["node"] = repeat, ["port"] = "in", ["graph"] = graph });

        var setup = await networks.GetSetupAsync(graph, ct);
        Assert.Equal([later], setup.Pending);
        Assert.Equal([$"PUBSUB: \t {repeat}.OUT -> {drop}.IN"], setup.Bindings.SelectMany(static b => b.Describe()));
        Assert.Empty(setup.Problems);
        var after = await networks.GetGraphAsync(graph, ct);
        Assert.Equal(3, after.Connections.Count);
        Assert.Equal(["start"], after.Inports.Keys);
        Assert.Empty(_gateway.Logs.Errors);
    }
}
