using System.Text.Json.Nodes;
using Trellis.Core.Errors;
using Trellis.Flows.Graphs;
using Xunit;

namespace Trellis.Flows.Tests.Graphs;

public sealed class FlowGraphEditTests
{
    [Fact]
    public void Removing_a_node_takes_its_edges_initials_and_exports_with_it()
    {
        var g = new FlowGraph();
        g.AddNode("a", "Repeat");
        g.AddNode("b", "Double");
        g.AddEdge(new("a", "OUT"), new("b", "IN"));
        g.AddInitial(JsonValue.Create("x"), new("b", "in"));
        g.AddInport("input", "b", "in");

        g.RemoveNode("b");

        Assert.Equal(["a"], g.Processes.Keys);
        Assert.Empty(g.Connections);
        Assert.Empty(g.Inports);
    }

    [Fact]
    public void Renaming_a_node_rewrites_every_reference_and_keeps_its_place()
    {
        var g = new FlowGraph();
        g.AddNode("a", "Repeat");
        g.AddNode("b", "Double");
        g.AddEdge(new("a", "out"), new("b", "in"));
        g.AddOutport("output", "b", "out");

        g.RenameNode("a", "first");

        Assert.Equal(["first", "b"], g.Processes.Keys);
        Assert.Equal("first", g.Connections[0].Src!.Process);
        g.RenameNode("b", "second");
        Assert.Equal("second", g.Outports["output"].Process);
    }

    [Fact]
    public void An_edge_to_a_missing_node_is_refused_naming_it()
    {
        var g = new FlowGraph();
        g.AddNode("a", "Repeat");

        var e = Assert.Throws<TrellisException>(() => g.AddEdge(new("a", "out"), new("ghost", "in")));

        Assert.Equal(ErrorKind.NotFound, e.Kind);
        Assert.Contains("'ghost'", e.Message);
        Assert.Empty(g.Connections);
    }

    [Fact]
    public void Ports_are_folded_to_lower_case_unless_the_graph_is_case_sensitive()
    {
        var g = new FlowGraph();
        g.AddNode("a", "Repeat");
        g.AddNode("b", "Repeat");
        g.AddEdge(new("a", "OUT"), new("b", "IN"));
        Assert.Equal(new FlowPortRef("a", "out"), g.Connections[0].Src);

        var sensitive = new FlowGraph { CaseSensitive = true };
        sensitive.AddNode("a", "Repeat");
        sensitive.AddNode("b", "Repeat");
        sensitive.AddEdge(new("a", "OUT"), new("b", "IN"));
        Assert.Equal(new FlowPortRef("a", "OUT"), sensitive.Connections[0].Src);
    }

    [Fact]
    public void A_graph_survives_a_round_trip_through_json()
    {
        var g = new FlowGraph();
        g.Properties["name"] = "demo";
        g.AddNode("a", "Repeat", new JsonObject { ["x"] = 1 });
        g.AddNode("b", "Double");
        g.AddEdge(new("a", "out", 2), new("b", "in"));
        g.AddInitial(JsonNode.Parse("""{"k":[1,2]}"""), new("a", "in"));
        g.AddInport("input", "a", "in");

        var back = FlowGraph.FromJson(g.ToJson());

        Assert.Equal(g.ToJson(), back.ToJson());
        Assert.Equal("demo", back.Name);
        Assert.Equal(2, back.Connections[0].Src!.Index);
    }

    [Theory]
    [InlineData("[]", "must be a JSON object")]
    [InlineData("""{"processes":{"a":{}}}""", "processes.a.component")]
    [InlineData("""{"connections":[{"tgt":{"process":"a","port":"in"}}]}""", "connections[0] needs a src or data")]
    [InlineData("""{"connections":[{"src":{"process":"a","port":"out"},"tgt":{"process":"b","port":"in","index":-1}}]}""", "connections[0].tgt.index")]
    [InlineData("{", "not valid JSON")]
    public void Json_of_the_wrong_shape_is_refused_naming_the_field(string json, string expected)
    {
        var e = Assert.Throws<TrellisException>(() => FlowGraph.FromJson(json));
        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
        Assert.Contains(expected, e.Message);
    }
}
