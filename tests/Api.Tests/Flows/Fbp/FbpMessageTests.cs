using System.Text;
using System.Text.Json.Nodes;
using Trellis.Api.Flows.Fbp.Internal;
using Trellis.Flows.Graphs;
using Trellis.Flows.Networks;

namespace Trellis.Api.Tests.Flows.Fbp;

/// <summary>Reading FBP protocol messages and mapping graph commands to <see cref="GraphChange"/>s, without a network.</summary>
public sealed class FbpMessageTests
{
    private static FbpMessage? Parse(string text, out string protocol, out string? error) =>
        FbpMessage.Parse(Encoding.UTF8.GetBytes(text), out protocol, out _, out error);

    [Theory]
    [InlineData("not json", "runtime", "not valid JSON")]
    [InlineData("[1,2]", "runtime", "must be a JSON object")]
    [InlineData("\"x\"", "runtime", "must be a JSON object")]
    [InlineData("{}", "runtime", "has no protocol")]
    [InlineData("{\"protocol\":5,\"command\":\"x\"}", "runtime", "protocol must be a non-empty string")]
    [InlineData("{\"protocol\":\"graph\"}", "graph", "has no command")]
    [InlineData("{\"protocol\":\"graph\",\"command\":\"addnode\",\"payload\":[1]}", "graph", "payload must be a JSON object, not an array")]
    [InlineData("{\"protocol\":\"graph\",\"command\":\"addnode\",\"requestId\":7}", "graph", "requestId must be a string")]
    [InlineData("{\"protocol\":\"graph\",\"command\":\"addnode\",\"secret\":{}}", "graph", "secret must be a string")]
    public void Malformed_messages_are_refused_naming_the_problem(string text, string protocol, string expected)
    {
        Assert.Null(Parse(text, out var errorProtocol, out var error));
        Assert.Equal(protocol, errorProtocol);
        Assert.Contains(expected, error);
    }

    [Fact]
    public void A_message_carries_its_request_id_and_secret_from_either_place()
    {
        var m = Parse("""{"protocol":"graph","command":"addnode","payload":{"id":"a","secret":"old"},"requestId":"r1"}""", out _, out _)!;
        Assert.Equal(("graph", "addnode", "r1", "old"), (m.Protocol, m.Command, m.RequestId, m.Secret));
        m = Parse("""{"protocol":"runtime","command":"getruntime","secret":"new","payload":{"secret":"old"}}""", out _, out _)!;
        Assert.Equal("new", m.Secret);
        Assert.Empty(Parse("""{"protocol":"runtime","command":"getruntime"}""", out _, out _)!.Payload);
    }

    [Fact]
    public void Replies_carry_response_to_only_when_the_request_had_an_id()
    {
        var with = JsonNode.Parse(FbpMessage.Serialize("graph", "addnode", new JsonObject(), "r9"))!;
        Assert.Equal("r9", (string?)with["responseTo"]);
        var without = JsonNode.Parse(FbpMessage.Serialize("graph", "addnode", new JsonObject(), null))!.AsObject();
        Assert.False(without.ContainsKey("responseTo"));
    }

    [Fact]
    public void Graph_commands_map_to_graph_changes()
    {
        var edge = Read("addedge", """{"src":{"node":"A","port":"out"},"tgt":{"node":"B","port":"in","index":"2"},"metadata":{"route":5},"graph":"g"}""");
        Assert.Equal("g", edge.Graph);
        Assert.Equal(GraphChangeKind.AddEdge, edge.Change.Kind);
        Assert.Equal(new FlowPortRef("A", "out"), edge.Change.Src);
        Assert.Equal(new FlowPortRef("B", "in", 2), edge.Change.Tgt);
        Assert.Equal("""{"src":{"node":"A","port":"out"},"tgt":{"node":"B","port":"in","index":2},"metadata":{"route":5},"graph":"g"}""", edge.Echo.ToJsonString());

        var iip = Read("addinitial", """{"src":{"data":null},"tgt":{"node":"B","port":"in"},"graph":"g"}""");
        Assert.Equal(GraphChangeKind.AddInitial, iip.Change.Kind);
        Assert.Null(iip.Change.Data);
        Assert.Equal("""{"src":{"data":null},"tgt":{"node":"B","port":"in"},"graph":"g"}""", iip.Echo.ToJsonString());

        var clear = Read("clear", """{"id":"foo","name":"Foo graph","main":true,"baseDir":"/x","secret":"s"}""");
        Assert.Equal(("foo", GraphChangeKind.Clear), (clear.Graph, clear.Change.Kind));
        Assert.Equal("""{"name":"Foo graph"}""", clear.Change.Properties!.ToJsonString());
        Assert.Equal("""{"id":"foo","name":"Foo graph","main":true}""", clear.Echo.ToJsonString());

        var rename = Read("renameinport", """{"from":"in","to":"input","graph":"g"}""");
        Assert.Equal((GraphChangeKind.RenameInport, "in", "input"), (rename.Change.Kind, rename.Change.Port, rename.Change.Name));
        var export = Read("addoutport", """{"public":"out","node":"A","port":"out","graph":"g"}""");
        Assert.Equal((GraphChangeKind.AddOutport, "out", "A", "out"), (export.Change.Kind, export.Change.Name, export.Change.Node, export.Change.Port));
        Assert.Equal((GraphChangeKind.RenameNode, "a", "b"), Read("renamenode", """{"from":"a","to":"b","graph":"g"}""") is var r ? (r.Change.Kind, r.Change.Node, r.Change.Name) : default);
    }

    [Theory]
    [InlineData("addedge", "{\"graph\":\"g\"}", "graph:addedge: payload.src is required")]
    [InlineData("addedge", "{}", "No graph specified")]
    [InlineData("addedge", "{\"src\":{\"node\":\"A\"},\"tgt\":{\"node\":\"B\",\"port\":\"in\"},\"graph\":\"g\"}", "payload.src.port must be a non-empty string")]
    [InlineData("addedge", "{\"src\":{\"node\":\"A\",\"port\":\"out\",\"index\":-1},\"tgt\":{\"node\":\"B\",\"port\":\"in\"},\"graph\":\"g\"}", "payload.src.index must be a non-negative integer")]
    [InlineData("addnode", "{\"id\":\"a\",\"graph\":\"g\"}", "graph:addnode: payload.component is required")]
    [InlineData("addnode", "{\"id\":\"a\",\"component\":\"c\",\"metadata\":[],\"graph\":\"g\"}", "payload.metadata must be an object, not an array")]
    [InlineData("addinitial", "{\"src\":{},\"tgt\":{\"node\":\"B\",\"port\":\"in\"},\"graph\":\"g\"}", "payload.src.data is required")]
    [InlineData("changenode", "{\"id\":\"a\",\"graph\":\"g\"}", "payload.metadata is required")]
    [InlineData("clear", "{}", "graph:clear: payload.id is required")]
    [InlineData("addgroup", "{\"name\":\"x\",\"nodes\":[],\"graph\":\"g\"}", "graph:addgroup is not supported")]
    [InlineData("frobnicate", "{\"graph\":\"g\"}", "unknown command graph:frobnicate")]
    public void Bad_graph_payloads_are_refused_naming_the_field(string command, string payload, string expected)
    {
        var e = Assert.Throws<FbpProtocolException>(() => Read(command, payload));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Edge_data_is_named_like_an_fbp_line()
    {
        var data = NetworkCommands.Data(new FlowPacket("bar", new FlowPortRef("Hello", "out"), new FlowPortRef("World", "in", 1), null, JsonValue.Create("hi")));
        Assert.Equal("""{"id":"Hello() OUT -> IN[1] World()","graph":"bar","src":{"node":"Hello","port":"out"},"tgt":{"node":"World","port":"in","index":1},"data":"hi"}""", data.ToJsonString(FbpMessage.Json));
        var iip = NetworkCommands.Data(new FlowPacket("bar", null, new FlowPortRef("Hello", "in"), null, JsonValue.Create(1)));
        Assert.Equal("DATA -> IN Hello()", (string?)iip["id"]);
        Assert.False(iip.ContainsKey("src"));
    }

    private static GraphRequest Read(string command, string payload) => GraphRequests.Read(command, JsonNode.Parse(payload)!.AsObject());
}
