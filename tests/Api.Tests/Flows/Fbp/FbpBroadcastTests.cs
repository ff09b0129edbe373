using System.Text.Json.Nodes;
using Trellis.Api.Tests.Infrastructure;

namespace Trellis.Api.Tests.Flows.Fbp;

/// <summary>Two clients editing one graph over /fbp see each other's edits (as msgflo sends graph changes to every client);
/// a client on another graph hears nothing, and a refused edit goes to no one.</summary>
public sealed class FbpBroadcastTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;

    public async ValueTask InitializeAsync() => _gateway = await TestGateway.StartAsync();

    public async ValueTask DisposeAsync() => await _gateway.DisposeAsync();

    private static string Unique(string prefix) => $"{prefix}{Guid.NewGuid():N}"[..(prefix.Length + 12)];

    [Fact]
    public async Task An_edit_by_one_client_reaches_the_other_clients_watching_the_graph()
    {
        var graph = Unique("fbp-shared-");
        var other = Unique("fbp-other-");
        await using var a = await FbpClient.ConnectAsync(_gateway);
        await using var b = await FbpClient.ConnectAsync(_gateway);
        await using var c = await FbpClient.ConnectAsync(_gateway);
        await a.RequestAsync("graph", "clear", new JsonObject { ["id"] = graph, ["name"] = graph });
        await c.RequestAsync("graph", "clear", new JsonObject { ["id"] = other, ["name"] = other });

        // B edits the graph A created: A hears of it, without responseTo and without the secret.
        await b.RequestAsync("graph", "addnode", new JsonObject { ["id"] = "X", ["component"] = "test/X", ["graph"] = graph });
        var heard = await a.ExpectAsync("graph", "addnode");
        Assert.Equal($$$"""{"protocol":"graph","command":"addnode","payload":{"id":"X","component":"test/X","graph":"{{{graph}}}"}}""", heard.ToJsonString());

        // And the other way round, with the ports a port edit changed.
        await a.RequestAsync("graph", "addnode", new JsonObject { ["id"] = "Y", ["component"] = "test/Y", ["graph"] = graph });
        Assert.Equal("Y", (string?)(await b.ExpectAsync("graph", "addnode"))["payload"]!["id"]);
        await a.RequestAsync("graph", "addinport", new JsonObject { ["public"] = "input", ["node"] = "Y", ["port"] = "in", ["graph"] = graph });
        await a.ExpectAsync("runtime", "ports");
        Assert.Equal("input", (string?)(await b.ExpectAsync("graph", "addinport"))["payload"]!["public"]);
        var ports = await b.ExpectAsync("runtime", "ports");
        Assert.Equal(graph, (string?)ports["payload"]!["graph"]);
        Assert.Equal("input", (string?)ports["payload"]!["inPorts"]![0]!["id"]);
        Assert.Null(ports["responseTo"]);

        // A refused edit goes to no one: A's next message is the answer to its own next request.
        Assert.Contains("'Nope'", await b.ErrorAsync("graph", "addedge", new JsonObject
        {
            ["src"] = new JsonObject { ["node"] = "Nope", ["port"] = "out" },
            ["tgt"] = new JsonObject { ["node"] = "X", ["port"] = "in" },
            ["graph"] = graph,
        }));
        var id = await a.SendAsync("graph", "changenode", new JsonObject { ["id"] = "X", ["metadata"] = new JsonObject { ["x"] = 1 }, ["graph"] = graph });
        var next = await a.ReceiveAsync("A's reply to its changenode");
        Assert.Equal(id, (string?)next["responseTo"]);
        Assert.Equal("""{"x":1}""", (await b.ExpectAsync("graph", "changenode"))["payload"]!["metadata"]!.ToJsonString());

        // C watches another graph: none of that reached it.
        id = await c.SendAsync("graph", "addnode", new JsonObject { ["id"] = "Z", ["component"] = "test/Z", ["graph"] = other });
        next = await c.ReceiveAsync("C's reply to its addnode");
        Assert.Equal(id, (string?)next["responseTo"]);

        // Removing a node tells the others what went with it.
        await b.RequestAsync("graph", "addedge", new JsonObject
        {
            ["src"] = new JsonObject { ["node"] = "X", ["port"] = "out" },
            ["tgt"] = new JsonObject { ["node"] = "Y", ["port"] = "in" },
            ["graph"] = graph,
        });
        await a.ExpectAsync("graph", "addedge");
        await b.SendAsync("graph", "removenode", new JsonObject { ["id"] = "Y", ["graph"] = graph });
        await a.ExpectAsync("graph", "removeedge");
        await a.ExpectAsync("graph", "removeinport");
        Assert.Equal("Y", (string?)(await a.ExpectAsync("graph", "removenode"))["payload"]!["id"]);
    }
}
