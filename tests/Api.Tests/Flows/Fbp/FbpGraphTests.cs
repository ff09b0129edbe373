using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Trellis.Api.Tests.Infrastructure;
using Trellis.Flows.Broker;
using Trellis.Flows.Graphs;
using Trellis.TestKit;

namespace Trellis.Api.Tests.Flows.Fbp;

/// <summary>graph:*, component:* and network:* over /fbp against the gateway's flows on the in-memory broker.</summary>
public sealed class FbpGraphTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;

    public async ValueTask InitializeAsync() => _gateway = await TestGateway.StartAsync();

    public async ValueTask DisposeAsync() => await _gateway.DisposeAsync();

    private static string Unique(string prefix) => $"{prefix}{Guid.NewGuid():N}"[..(prefix.Length + 12)];

    private static JsonObject Port(string node, string port) => new() { ["node"] = node, ["port"] = port };

    [Fact]
    public async Task A_graph_built_with_graph_commands_reads_back_with_getsource()
    {
        var graph = Unique("fbp-graph-");
        await using var client = await FbpClient.ConnectAsync(_gateway);

        Assert.Equal("Requested graph not found", await client.ErrorAsync("graph", "addnode", new JsonObject { ["id"] = "A", ["component"] = "x/Y", ["graph"] = graph }));

        var clear = await client.RequestAsync("graph", "clear", new JsonObject { ["id"] = graph, ["name"] = "Test graph", ["main"] = true, ["baseDir"] = "/tmp" });
        Assert.Equal($$"""{"id":"{{graph}}","name":"Test graph","main":true}""", clear.ToJsonString());

        var addnode = await client.RequestAsync("graph", "addnode", new JsonObject { ["id"] = "A", ["component"] = "test/Repeat", ["metadata"] = new JsonObject { ["x"] = 10 }, ["graph"] = graph });
        Assert.Equal($$"""{"id":"A","component":"test/Repeat","metadata":{"x":10},"graph":"{{graph}}"}""", addnode.ToJsonString());
        await client.RequestAsync("graph", "addnode", new JsonObject { ["id"] = "B", ["component"] = "test/Drop", ["graph"] = graph });
        Assert.Contains("already exists", await client.ErrorAsync("graph", "addnode", new JsonObject { ["id"] = "B", ["component"] = "test/Drop", ["graph"] = graph }));

        var addedge = await client.RequestAsync("graph", "addedge", new JsonObject { ["src"] = Port("A", "out"), ["tgt"] = Port("B", "in"), ["metadata"] = new JsonObject { ["route"] = 5 }, ["graph"] = graph });
        Assert.Equal($$"""{"src":{"node":"A","port":"out"},"tgt":{"node":"B","port":"in"},"metadata":{"route":5},"graph":"{{graph}}"}""", addedge.ToJsonString());
        Assert.Contains("'Nope'", await client.ErrorAsync("graph", "addedge", new JsonObject { ["src"] = Port("Nope", "out"), ["tgt"] = Port("B", "in"), ["graph"] = graph }));

        var changeedge = await client.RequestAsync("graph", "changeedge", new JsonObject { ["src"] = Port("A", "out"), ["tgt"] = Port("B", "in"), ["metadata"] = new JsonObject { ["secure"] = true }, ["graph"] = graph });
        Assert.Equal("""{"route":5,"secure":true}""", changeedge["metadata"]!.ToJsonString());

        var addinitial = await client.RequestAsync("graph", "addinitial", new JsonObject { ["src"] = new JsonObject { ["data"] = "hello" }, ["tgt"] = Port("A", "in"), ["graph"] = graph });
        Assert.Equal($$"""{"src":{"data":"hello"},"tgt":{"node":"A","port":"in"},"graph":"{{graph}}"}""", addinitial.ToJsonString());

        // changenode merges, and a null value removes a key.
        Assert.Equal("""{"x":10,"y":20}""", (await client.RequestAsync("graph", "changenode", new JsonObject { ["id"] = "A", ["metadata"] = new JsonObject { ["y"] = 20 }, ["graph"] = graph }))["metadata"]!.ToJsonString());
        Assert.Equal("""{"y":20}""", (await client.RequestAsync("graph", "changenode", new JsonObject { ["id"] = "A", ["metadata"] = new JsonObject { ["x"] = null }, ["graph"] = graph }))["metadata"]!.ToJsonString());

        // Exported ports: acknowledged, then the graph's ports.
        var inport = await client.RequestAsync("graph", "addinport", new JsonObject { ["public"] = "input", ["node"] = "A", ["port"] = "in", ["graph"] = graph });
        Assert.Equal($$"""{"public":"input","node":"A","port":"in","graph":"{{graph}}"}""", inport.ToJsonString());
        var ports = (JsonObject)(await client.ExpectAsync("runtime", "ports", m => (string?)m["payload"]!["graph"] == graph))["payload"]!;
        Assert.Equal("""[{"id":"input","type":"any","addressable":false,"required":false}]""", ports["inPorts"]!.ToJsonString());
        await client.RequestAsync("graph", "addoutport", new JsonObject { ["public"] = "output", ["node"] = "A", ["port"] = "out", ["graph"] = graph });
        await client.RequestAsync("graph", "renameoutport", new JsonObject { ["from"] = "output", ["to"] = "result", ["graph"] = graph });
        ports = (JsonObject)(await client.ExpectAsync("runtime", "ports", m => m["payload"]!["outPorts"]!.AsArray().Any(p => (string?)p!["id"] == "result")))["payload"]!;
        Assert.Single(ports["outPorts"]!.AsArray());

        var renamed = await client.RequestAsync("graph", "renamenode", new JsonObject { ["from"] = "A", ["to"] = "Repeater", ["graph"] = graph });
        Assert.Equal($$"""{"from":"A","to":"Repeater","graph":"{{graph}}"}""", renamed.ToJsonString());

        // Read back: the graph as JSON in the fbp format.
        var source = await client.RequestAsync("component", "getsource", new JsonObject { ["name"] = graph }, "source");
        Assert.Equal("json", (string?)source["language"]);
        var read = FlowGraph.FromJson((string)source["code"]!);
        Assert.Equal(["Repeater", "B"], read.Processes.Keys);
        Assert.Equal("test/Repeat", read.Processes["Repeater"].Component);
        var edge = Assert.Single(read.Edges);
        Assert.Equal((new FlowPortRef("Repeater", "out"), new FlowPortRef("B", "in")), (edge.Src, edge.Tgt));
        var iip = Assert.Single(read.Initials);
        Assert.Equal("hello", (string?)iip.Data);
        Assert.Equal("Repeater", read.Inports["input"].Process);
        Assert.Equal("Repeater", read.Outports["result"].Process);
        Assert.Equal("Test graph", read.Name);

        // removeinitial answers with the data removed; removenode with the edges it took first.
        var removeinitial = await client.RequestAsync("graph", "removeinitial", new JsonObject { ["tgt"] = Port("Repeater", "in"), ["graph"] = graph });
        Assert.Equal($$"""{"src":{"data":"hello"},"tgt":{"node":"Repeater","port":"in"},"graph":"{{graph}}"}""", removeinitial.ToJsonString());
        var removeId = await client.SendAsync("graph", "removenode", new JsonObject { ["id"] = "B", ["graph"] = graph });
        var removeedge = await client.ExpectAsync("graph", "removeedge");
        Assert.Equal(removeId, (string?)removeedge["responseTo"]);
        Assert.Equal($$"""{"src":{"node":"Repeater","port":"out"},"tgt":{"node":"B","port":"in"},"graph":"{{graph}}"}""", removeedge["payload"]!.ToJsonString());
        Assert.Equal($$"""{"id":"B","graph":"{{graph}}"}""", (await client.ExpectAsync("graph", "removenode"))["payload"]!.ToJsonString());

        await client.RequestAsync("graph", "removeinport", new JsonObject { ["public"] = "input", ["graph"] = graph });
        await client.RequestAsync("graph", "removeoutport", new JsonObject { ["public"] = "result", ["graph"] = graph });
        Assert.Contains("no inport 'input'", await client.ErrorAsync("graph", "removeinport", new JsonObject { ["public"] = "input", ["graph"] = graph }));

        read = FlowGraph.FromJson((string)(await client.RequestAsync("component", "getsource", new JsonObject { ["name"] = graph }, "source"))["code"]!);
        Assert.Equal(["Repeater"], read.Processes.Keys);
        Assert.Empty(read.Connections);
        Assert.Empty(read.Inports);
        Assert.Empty(read.Outports);
        Assert.Empty(_gateway.Logs.Errors);
    }

    [Fact]
    public async Task Component_list_describes_each_announced_participant_component()
    {
        var library = Unique("lib");
        var broker = _gateway.Services.GetRequiredService<IFlowBroker>();
        var ct = TestContext.Current.CancellationToken;
        await using var repeat = await TestParticipant.StartAsync(broker, Unique("rep"), $"{library}/Repeat", repeat: true, ct);
        await using var drop = await TestParticipant.StartAsync(broker, Unique("drop"), $"{library}/Drop", repeat: false, ct);
        await using var client = await FbpClient.ConnectAsync(_gateway);

        async Task<List<JsonObject>> ListAsync()
        {
            var id = await client.SendAsync("component", "list", new JsonObject());
            var components = new List<JsonObject>();
            while (true)
            {
                var message = await client.ReceiveAsync("component:component or componentsready");
                Assert.Equal(id, (string?)message["responseTo"]);
                if ((string?)message["command"] == "componentsready")
                {
                    Assert.Equal(components.Count, (int)message["payload"]!);
                    return components;
                }

                Assert.Equal("component", (string?)message["command"]);
                components.Add((JsonObject)message["payload"]!);
            }
        }

        var components = await Waits.UntilAsync(ListAsync, l => l.Count(c => ((string)c["name"]!).StartsWith(library, StringComparison.Ordinal)) == 2,
            $"component:list to show {library}/Repeat and {library}/Drop once their participants announced themselves on fbp");
        var repeatInfo = components.Single(c => (string?)c["name"] == $"{library}/Repeat");
        Assert.Equal(
            $$"""{"name":"{{library}}/Repeat","description":"Forwards its input","icon":"forward","subgraph":false,"inPorts":[{"id":"in","type":"all","description":"what to repeat","addressable":false,"required":false}],"outPorts":[{"id":"out","type":"all","description":"","addressable":false,"required":false}]}""",
            repeatInfo.ToJsonString());

        var source = await client.RequestAsync("component", "getsource", new JsonObject { ["name"] = $"{library}/Drop" }, "source");
        Assert.Equal(("Drop", library, "json"), ((string?)source["name"], (string?)source["library"], (string?)source["language"]));
        Assert.Equal($"{library}/Drop", (string?)JsonNode.Parse((string)source["code"]!)!["component"]);
        Assert.Contains("no graph or component", await client.ErrorAsync("component", "getsource", new JsonObject { ["name"] = "nothing/Here" }));

        var main = await client.RequestAsync("component", "getsource", new JsonObject { ["name"] = "default/main" }, "source");
        Assert.Equal(("main", "default"), ((string?)main["name"], (string?)main["library"]));
        Assert.Empty(_gateway.Logs.Errors);
    }

    [Fact]
    public async Task Network_start_getstatus_and_stop_report_the_state()
    {
        var graph = Unique("fbp-net-");
        await using var client = await FbpClient.ConnectAsync(_gateway);
        await client.RequestAsync("graph", "clear", new JsonObject { ["id"] = graph });
        var status = await client.RequestAsync("network", "getstatus", new JsonObject { ["graph"] = graph }, "status");
        Assert.Equal($$"""{"graph":"{{graph}}","started":false,"running":false}""", status.ToJsonString());

        var started = await client.RequestAsync("network", "start", new JsonObject { ["graph"] = graph }, "started");
        Assert.Equal((graph, true, true), ((string?)started["graph"], (bool)started["started"]!, (bool)started["running"]!));
        Assert.True(DateTimeOffset.TryParse((string?)started["time"], out _), $"started.time is a date-time: {started["time"]}");

        status = await client.RequestAsync("network", "getstatus", new JsonObject { ["graph"] = graph }, "status");
        Assert.True((bool)status["started"]! && (bool)status["running"]!, status.ToJsonString());
        Assert.True((double)status["uptime"]! >= 0);

        var stopped = await client.RequestAsync("network", "stop", new JsonObject { ["graph"] = graph }, "stopped");
        Assert.Equal((false, false), ((bool)stopped["started"]!, (bool)stopped["running"]!));
        Assert.True((double)stopped["uptime"]! >= 0);
        status = await client.RequestAsync("network", "getstatus", new JsonObject { ["graph"] = graph }, "status");
        Assert.Equal($$"""{"graph":"{{graph}}","started":false,"running":false}""", status.ToJsonString());

        Assert.Equal("Requested graph not found", await client.ErrorAsync("network", "start", new JsonObject { ["graph"] = Unique("nowhere-") }));
        Assert.Contains("payload.edges is required", await client.ErrorAsync("network", "edges", new JsonObject { ["graph"] = graph }));
        Assert.Empty(_gateway.Logs.Errors);
    }
}
