using System.Collections.Concurrent;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Trellis.Api.Tests.Infrastructure;
using Trellis.Flows.Broker;
using Trellis.Flows.Networks;
using Trellis.TestKit;

namespace Trellis.Api.Tests.Flows.Fbp;

/// <summary>Watched edges follow the graph: an edge removed from it (by <c>removeedge</c>, <c>removenode</c> or
/// <c>clear</c>) is no longer reported by <c>network:data</c>, while the client's other watched edges still are.</summary>
public sealed class FbpEdgeWatchTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;

    public async ValueTask InitializeAsync() => _gateway = await TestGateway.StartAsync();

    public async ValueTask DisposeAsync() => await _gateway.DisposeAsync();

    private static JsonObject Port(string node, string port) => new() { ["node"] = node, ["port"] = port };

    private static JsonObject Edge(string src, string tgt) => new() { ["src"] = Port(src, "out"), ["tgt"] = Port(tgt, "in") };

    private static Func<JsonObject, bool> Data(string src, string tgt, string value) =>
        m => (string?)m["protocol"] == "network" && (string?)m["command"] == "data" && (string?)m["payload"]!["src"]!["node"] == src
            && (string?)m["payload"]!["tgt"]!["node"] == tgt && m["payload"]!["data"]?.ToJsonString() == value;

    [Theory]
    [InlineData("edges")]
    [InlineData("start")]
    public async Task A_removed_edge_is_no_longer_reported_and_the_other_watched_edges_still_are(string how)
    {
        var ct = TestContext.Current.CancellationToken;
        var id = Guid.NewGuid().ToString("N")[..10];
        var graph = $"fbp-watch-{id}";
        var (a, b, c) = ($"a{id}", $"b{id}", $"c{id}");
        var broker = _gateway.Services.GetRequiredService<IFlowBroker>();
        await using var pa = await TestParticipant.StartAsync(broker, a, $"lib{id}/Repeat", repeat: true, ct);
        await using var pb = await TestParticipant.StartAsync(broker, b, $"lib{id}/Repeat", repeat: true, ct);
        await using var pc = await TestParticipant.StartAsync(broker, c, $"lib{id}/Repeat", repeat: true, ct);
        await using var client = await FbpClient.ConnectAsync(_gateway);
        var fbp = FbpInbox.Start(client);
        await fbp.RequestAsync("graph", "clear", new JsonObject { ["id"] = graph });
        foreach (var node in new[] { a, b, c })
        {
            await fbp.RequestAsync("graph", "addnode", new JsonObject { ["id"] = node, ["component"] = $"lib{id}/Repeat", ["graph"] = graph });
        }

        await fbp.RequestAsync("graph", "addedge", new JsonObject { ["src"] = Port(a, "out"), ["tgt"] = Port(b, "in"), ["graph"] = graph });
        await fbp.RequestAsync("graph", "addedge", new JsonObject { ["src"] = Port(b, "out"), ["tgt"] = Port(c, "in"), ["graph"] = graph });
        var networks = _gateway.Services.GetRequiredService<IFlowNetworks>();
        await Waits.UntilAsync(() => networks.GetSetupAsync(graph, ct), s => s.Pending.Count == 0 && s.Bindings.Count == 2, $"graph {graph} wired");
        if (how == "edges")
        {
            await fbp.RequestAsync("network", "edges", new JsonObject { ["graph"] = graph, ["edges"] = new JsonArray(Edge(a, b), Edge(b, c)) });
        }
        else
        {
            await fbp.RequestAsync("network", "start", new JsonObject { ["graph"] = graph }, "started"); // watches every edge
        }

        await broker.SendToQueueAsync($"{a}.IN", "1"u8.ToArray(), null, ct);
        await fbp.ExpectAsync($"network:data 1 on {a} -> {b}", Data(a, b, "1"));
        await fbp.ExpectAsync($"network:data 1 on {b} -> {c}", Data(b, c, "1"));

        await fbp.RequestAsync("graph", "removeedge", new JsonObject { ["src"] = Port(b, "out"), ["tgt"] = Port(c, "in"), ["graph"] = graph });
        var leftB = new ConcurrentQueue<string>();
        await using (await broker.TapAsync($"{b}.OUT", (_, body, _) => { leftB.Enqueue(Encoding.UTF8.GetString(body.Span)); return ValueTask.CompletedTask; }, ct))
        {
            await broker.SendToQueueAsync($"{a}.IN", "2"u8.ToArray(), null, ct);
            await fbp.ExpectAsync($"network:data 2 on {a} -> {b} (still watched)", Data(a, b, "2"));
            await Waits.UntilAsync(() => Task.FromResult(leftB.ToArray()), o => o.Contains("2"), $"2 to leave {b}");
        }

        // b sent 2 on; the edge it would have crossed is gone, and the session said nothing about it.
        await fbp.NoneWithinAsync($"network:data 2 on the removed edge {b} -> {c}", Data(b, c, "2"), TimeSpan.FromSeconds(1));

        await fbp.RequestAsync("graph", "removenode", new JsonObject { ["id"] = a, ["graph"] = graph });
        var leftA = new ConcurrentQueue<string>();
        await using (await broker.TapAsync($"{a}.OUT", (_, body, _) => { leftA.Enqueue(Encoding.UTF8.GetString(body.Span)); return ValueTask.CompletedTask; }, ct))
        {
            await broker.SendToQueueAsync($"{a}.IN", "3"u8.ToArray(), null, ct);
            await Waits.UntilAsync(() => Task.FromResult(leftA.ToArray()), o => o.Contains("3"), $"3 to leave {a}");
        }

        await fbp.NoneWithinAsync($"network:data 3 on {a} -> {b}, removed with {a}", Data(a, b, "3"), TimeSpan.FromSeconds(1));
        Assert.Empty(_gateway.Logs.Errors);
    }
}
