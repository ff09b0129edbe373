using System.Text.Json.Nodes;
using Trellis.Api.Tests.Flows.Fbp;
using Trellis.TestKit;
using Xunit;

namespace Trellis.Api.Tests.Flows;

/// <summary>An FBP client (as Flowhub) drives stock msgflo-nodejs participants on RabbitMQ over <c>ws://…/fbp</c>: a
/// graph built with graph commands from the running participants' roles, an IIP and packets through the exported ports,
/// a watched edge, an edge removed, the component list. Each test has a virtual host of its own.</summary>
public sealed class MsgFloFbpTests : IAsyncLifetime
{
    private MsgFloCluster _cluster = null!;

    public async ValueTask InitializeAsync() => _cluster = await MsgFloCluster.StartAsync("fbpws");

    public async ValueTask DisposeAsync() => await _cluster.DisposeAsync();

    private static JsonObject Port(string node, string port) => new() { ["node"] = node, ["port"] = port };

    private static bool Is(JsonObject m, string protocol, string command) => (string?)m["protocol"] == protocol && (string?)m["command"] == command;

    private static Func<JsonObject, bool> OutPacket(string graph, int value) =>
        m => Is(m, "runtime", "packet") && (string?)m["payload"]!["graph"] == graph && (string?)m["payload"]!["port"] == "out" && m["payload"]!["payload"]?.ToJsonString() == value.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static Func<JsonObject, bool> EdgeData(string src, string tgt, int value) =>
        m => Is(m, "network", "data") && (string?)m["payload"]!["src"]!["node"] == src && (string?)m["payload"]!["tgt"]!["node"] == tgt
            && m["payload"]!["data"]?.ToJsonString() == value.ToString(System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public async Task A_client_over_fbp_wires_repeat_double_repeat_sends_an_IIP_and_packets_watches_an_edge_and_a_removed_edge_stops_the_data()
    {
        var (a, b, c) = (MsgFloCluster.Unique("first"), MsgFloCluster.Unique("double"), MsgFloCluster.Unique("last"));
        var graph = $"fbp-peers-{Guid.NewGuid():N}"[..20];
        _cluster.Start("repeat.js", a);
        _cluster.Start("double.js", b);
        _cluster.Start("repeat.js", c);
        await _cluster.ListedAsync(a, b, c);
        await using var client = await FbpClient.ConnectAsync(_cluster.Gateway);
        Assert.Equal("noflo", client.Socket.SubProtocol);
        var fbp = FbpInbox.Start(client);

        await fbp.RequestAsync("graph", "clear", new JsonObject { ["id"] = graph });
        await fbp.RequestAsync("graph", "addnode", new JsonObject { ["id"] = a, ["component"] = "trellis/Repeat", ["graph"] = graph });
        await fbp.RequestAsync("graph", "addnode", new JsonObject { ["id"] = b, ["component"] = "trellis/Double", ["graph"] = graph });
        await fbp.RequestAsync("graph", "addnode", new JsonObject { ["id"] = c, ["component"] = "trellis/Repeat", ["graph"] = graph });
        await fbp.RequestAsync("graph", "addedge", new JsonObject { ["src"] = Port(a, "out"), ["tgt"] = Port(b, "in"), ["graph"] = graph });
        await fbp.RequestAsync("graph", "addedge", new JsonObject { ["src"] = Port(b, "out"), ["tgt"] = Port(c, "in"), ["graph"] = graph });
        await fbp.RequestAsync("graph", "addinport", new JsonObject { ["public"] = "in", ["node"] = a, ["port"] = "in", ["graph"] = graph });
        await fbp.RequestAsync("graph", "addoutport", new JsonObject { ["public"] = "out", ["node"] = c, ["port"] = "out", ["graph"] = graph });

        var setup = await Waits.UntilAsync(() => _cluster.Networks.GetSetupAsync(graph, CancellationToken.None), s => s.Pending.Count == 0 && s.Bindings.Count == 2,
            $"graph {graph} wired by the graph commands: {a}, {b} and {c} bound");
        Assert.Equal([$"PUBSUB: \t {a}.OUT -> {b}.IN", $"PUBSUB: \t {b}.OUT -> {c}.IN"], setup.Bindings.SelectMany(x => x.Describe()));
        Assert.Empty(setup.Problems);

        // One edge watched; network:start then watches the exported outport for this client (and no other edges).
        var watched = new JsonObject { ["src"] = Port(b, "out"), ["tgt"] = Port(c, "in") };
        var edges = await fbp.RequestAsync("network", "edges", new JsonObject { ["graph"] = graph, ["edges"] = new JsonArray(watched.DeepClone()) });
        Assert.Equal(new JsonArray(watched.DeepClone()).ToJsonString(), edges!["edges"]!.ToJsonString());
        await fbp.RequestAsync("network", "start", new JsonObject { ["graph"] = graph }, "started");

        // The IIP goes to the first participant once addinitial meets it and comes out of the last one doubled.
        await fbp.RequestAsync("graph", "addinitial", new JsonObject { ["src"] = new JsonObject { ["data"] = 21 }, ["tgt"] = Port(a, "in"), ["graph"] = graph });
        await fbp.ExpectAsync($"runtime:packet 42 from outport 'out' (the IIP 21 through {a} -> {b} -> {c}; {_cluster.Outputs(a, b, c)})", OutPacket(graph, 42));
        await fbp.ExpectAsync($"network:data 42 on {b}.out -> {c}.in", EdgeData(b, c, 42));

        var sent = await fbp.RequestAsync("runtime", "packet", new JsonObject { ["port"] = "in", ["event"] = "data", ["payload"] = 5, ["graph"] = graph }, "packetsent");
        Assert.Equal($$"""{"port":"in","event":"data","graph":"{{graph}}","payload":5}""", sent!.ToJsonString());
        var data = await fbp.ExpectAsync($"network:data 10 on {b}.out -> {c}.in", EdgeData(b, c, 10));
        Assert.Equal($"{b}() OUT -> IN {c}()", (string?)data["payload"]!["id"]);
        Assert.Equal(graph, (string?)data["payload"]!["graph"]);
        var packet = await fbp.ExpectAsync("runtime:packet 10 from outport 'out' (5 sent to the exported inport)", OutPacket(graph, 10));
        Assert.Equal("data", (string?)packet["payload"]!["event"]);
        // Only the selected edge is watched.
        await fbp.NoneWithinAsync($"network:data on {a}.out -> {b}.in (not watched)", m => Is(m, "network", "data") && (string?)m["payload"]!["tgt"]!["node"] == b, TimeSpan.Zero);

        var listId = await client.SendAsync("component", "list", new JsonObject());
        var ready = await fbp.ExpectAsync("component:componentsready", m => (string?)m["responseTo"] == listId && Is(m, "component", "componentsready"));
        var components = new List<JsonObject>();
        while (await TakeAsync(fbp, m => (string?)m["responseTo"] == listId && Is(m, "component", "component")) is { } component)
        {
            components.Add((JsonObject)component["payload"]!);
        }

        Assert.Equal(components.Count, (int)ready["payload"]!);
        Assert.Equal(["trellis/Double", "trellis/Repeat"], components.Select(x => (string)x["name"]!).Order(StringComparer.Ordinal));
        var doubler = components.Single(x => (string?)x["name"] == "trellis/Double");
        Assert.Equal("Sends on out twice the number it gets on in", (string?)doubler["description"]);
        Assert.Equal("in", (string?)doubler["inPorts"]![0]!["id"]);
        Assert.Equal("out", (string?)doubler["outPorts"]![0]!["id"]);

        // Without b -> c, what leaves b no longer reaches c: 7 leaves b as 14 and does not come out.
        var removed = await fbp.RequestAsync("graph", "removeedge", new JsonObject { ["src"] = Port(b, "out"), ["tgt"] = Port(c, "in"), ["graph"] = graph });
        Assert.Equal(b, (string?)removed!["src"]!["node"]);
        await Waits.UntilAsync(() => _cluster.Networks.GetSetupAsync(graph, CancellationToken.None), s => s.Bindings.Count == 1, $"graph {graph} to keep only {a}.OUT -> {b}.IN");
        var middle = await _cluster.TapAsync($"{b}.OUT");
        await fbp.RequestAsync("runtime", "packet", new JsonObject { ["port"] = "in", ["event"] = "data", ["payload"] = 7, ["graph"] = graph }, "packetsent");
        await Waits.UntilAsync(() => Task.FromResult(middle.ToArray()), o => o.Contains("14"), $"7 to leave {b} doubled");
        await fbp.NoneWithinAsync("runtime:packet 14 from outport 'out' after the edge was removed", OutPacket(graph, 14), TimeSpan.FromSeconds(3));
        await fbp.NoneWithinAsync($"network:data 14 on the removed edge {b} -> {c}", EdgeData(b, c, 14), TimeSpan.Zero);
        Assert.Empty(_cluster.Gateway.Logs.Errors);
    }

    /// <summary>The next kept or arriving message that matches, or null (every component reply comes before componentsready).</summary>
    private static async Task<JsonObject?> TakeAsync(FbpInbox inbox, Func<JsonObject, bool> match)
    {
        try
        {
            return await inbox.ExpectAsync("another component", match, TimeSpan.Zero);
        }
        catch (TimeoutException)
        {
            return null;
        }
    }
}
