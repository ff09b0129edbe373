using System.Text.Json.Nodes;
using Trellis.Core.Errors;
using Trellis.Flows.Graphs;
using Trellis.Flows.Graphs.Internal;
using Xunit;

namespace Trellis.Flows.Tests.Graphs;

/// <summary>The tricky corners of the .fbp grammar, checked directly (the corpus test compares whole files with fbp).</summary>
public sealed class FbpParserTests
{
    [Fact]
    public void An_edge_gets_default_ports_folded_and_components_from_first_mention()
    {
        var g = FbpParser.Parse("a(A) -> b(B)\nb OUT -> IN a\n");

        Assert.Equal(["a", "b"], g.Processes.Keys);
        Assert.Equal("A", g.Processes["a"].Component);
        var edge = g.Connections[0];
        Assert.Equal(new FlowPortRef("a", "out"), edge.Src);
        Assert.Equal(new FlowPortRef("b", "in"), edge.Tgt);
        Assert.Equal(new FlowPortRef("b", "out"), g.Connections[1].Src);
    }

    [Fact]
    public void Case_sensitive_parsing_keeps_port_and_export_names()
    {
        var g = FbpParser.Parse("INPORT=a.In:Start\na(A) Out -> In b(B)\n", caseSensitive: true);

        Assert.True(g.CaseSensitive);
        Assert.Equal("Start", g.Inports.Keys.Single());
        Assert.Equal("In", g.Inports["Start"].Port);
        Assert.Equal(new FlowPortRef("a", "Out"), g.Connections[0].Src);
    }

    [Fact]
    public void Default_port_declarations_apply_to_the_lines_after_them()
    {
        var g = FbpParser.Parse("a(A) -> b(B)\nDEFAULT_INPORT=Data\nDEFAULT_OUTPORT=Result\nb -> c(C)\n");

        Assert.Equal("in", g.Connections[0].Tgt.Port);
        Assert.Equal(new FlowPortRef("b", "result"), g.Connections[1].Src);
        Assert.Equal(new FlowPortRef("c", "data"), g.Connections[1].Tgt);
    }

    [Fact]
    public void Port_indexes_are_kept_on_both_ends()
    {
        var g = FbpParser.Parse("a(A) OUT[2] -> IN[007] b(B)\n'x' -> IN[0] b\n");

        Assert.Equal(new FlowPortRef("a", "out", 2), g.Connections[0].Src);
        Assert.Equal(new FlowPortRef("b", "in", 7), g.Connections[0].Tgt);
        Assert.Equal(0, g.Connections[1].Tgt.Index);
    }

    [Fact]
    public void Anonymous_nodes_are_numbered_per_component_and_named_once_per_place()
    {
        var g = FbpParser.Parse("(Foo) OUT -> IN (Foo)\n(core/Repeat) OUT -> IN (my_comp/x-y)\n");

        Assert.Equal(["_Foo_1", "_Foo_2", "_core_Repeat_1", "_my_comp/x-y_1"], g.Processes.Keys);
        Assert.Equal("core/Repeat", g.Processes["_core_Repeat_1"].Component);
    }

    [Fact]
    public void Node_metadata_reads_routes_keys_and_numeric_coordinates()
    {
        var g = FbpParser.Parse("a(A:x=10,y=2e2,label=hi) OUT -> IN b(B:myroute)\nc(C:x=abc,k=v=w) OUT -> IN b\n");

        Assert.Equal("""{"x":10,"y":200,"label":"hi"}""", g.Processes["a"].Metadata!.ToJsonString());
        Assert.Equal("""{"routes":"myroute"}""", g.Processes["b"].Metadata!.ToJsonString());
        Assert.Equal("""{"x":null,"k":"v"}""", g.Processes["c"].Metadata!.ToJsonString());
    }

    [Fact]
    public void Quoted_iips_unescape_only_the_quote()
    {
        var g = FbpParser.Parse("'it\\'s a \\n' -> IN a(A)\n");

        Assert.Equal("it's a \\n", g.Connections[0].Data!.GetValue<string>());
    }

    [Fact]
    public void Json_iips_become_data_with_javascript_number_semantics()
    {
        var g = FbpParser.Parse("{\"b\":1,\"2\":2,\"1\":[true,null,-0,1e21]} -> IN a(A)\n\tnull -> X a\n1e400 -> Y a\n");

        Assert.Equal("""{"1":[true,null,0,1e+21],"2":2,"b":1}""", Stringify(g.Connections[0].Data));
        Assert.Null(g.Connections[1].Data);
        Assert.Null(g.Connections[2].Data);
        Assert.Contains("\"data\": null", g.ToJson());
    }

    [Fact]
    public void A_bare_true_false_or_null_before_an_arrow_is_a_node_name()
    {
        var e = Assert.Throws<TrellisException>(() => FbpParser.Parse("true -> IN a(A)\n"));

        Assert.Equal("Edge to \"a\" port \"in\" is connected to an undefined source node \"true\"", e.Message);
    }

    [Fact]
    public void Annotations_set_properties_and_runtime_sets_the_environment()
    {
        var g = FbpParser.Parse("# @runtime msgflo\n# @name Flow One \n  # @icon ignored\na(A) OUT -> IN b(B)\n");

        Assert.Equal("""{"environment":{"type":"msgflo"},"name":"Flow One "}""", g.Properties.ToJsonString());
        Assert.Equal("Flow One ", g.Name);
    }

    [Fact]
    public void A_graph_without_annotations_prints_no_properties()
    {
        var g = FbpParser.Parse("a(A) OUT -> IN b(B)\n");

        Assert.DoesNotContain("properties", g.ToJson());
    }

    [Fact]
    public void A_line_without_an_arrow_declares_nodes_but_no_edges()
    {
        var g = FbpParser.Parse("a(A)\nIN b(B)\n");

        Assert.Equal(["a", "b"], g.Processes.Keys);
        Assert.Empty(g.Connections);
    }

    [Fact]
    public void Several_statements_may_share_one_line()
    {
        var g = FbpParser.Parse("a(A) OUT -> IN b(B) c(C) OUT -> IN d(D)\n");

        Assert.Equal(2, g.Connections.Count);
        Assert.Equal("c", g.Connections[1].Src!.Process);
    }

    [Theory]
    [InlineData("a(A) OUT -> IN b\n", "Edge from \"a\" port \"out\" is connected to an undefined target node \"b\"")]
    [InlineData("a OUT -> IN b(B)\n", "Edge to \"b\" port \"in\" is connected to an undefined source node \"a\"")]
    [InlineData("INPORT=x.IN:IN\n", "Inport \"in\" is connected to an undefined target node \"x\"")]
    [InlineData("OUTPORT=x.OUT:Out\n", "Outport \"out\" is connected to an undefined source node \"x\"")]
    [InlineData("[1,[2,3],{}] -> IN x\n", "IIP containing \"1,2,3,[object Object]\" is connected to an undefined target node \"x\"")]
    [InlineData("a() OUT -> IN b(B)\n", "Node \"a\" does not have a component defined")]
    public void Validation_errors_name_the_node(string text, string message)
    {
        var e = Assert.Throws<TrellisException>(() => FbpParser.Parse(text));

        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
        Assert.Equal(message, e.Message);
    }

    [Theory]
    [InlineData("a(A) OUT -> IN b(B)\r\nb OUT -> ]\r\n", "line 2, column 10: Expected \" \", \"'\", \"(\", \"[\", \"false\", \"null\", \"true\", \"{\", [a-zA-Z_], number or string but \"]\" found.")]
    [InlineData("a(A) OUT ->", "line 1, column 12: Expected \" \", \"'\", \"(\", \"[\", \"false\", \"null\", \"true\", \"{\", [a-zA-Z_], number or string but end of input found.")]
    [InlineData("\ta(A)", "line 1, column 2: Expected \"[\", \"false\", \"null\", \"true\", \"{\", number or string but \"a\" found.")]
    public void Syntax_errors_give_line_column_and_what_was_expected(string text, string message)
    {
        var e = Assert.Throws<TrellisException>(() => FbpParser.Parse(text));

        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
        Assert.Equal(message, e.Message);
    }

    [Fact]
    public void A_port_index_beyond_int_range_is_refused_with_its_place()
    {
        var e = Assert.Throws<TrellisException>(() => FbpParser.Parse("a(A) OUT[99999999999] -> IN b(B)\n"));

        Assert.StartsWith("line 1, column 10: the port index 99999999999 is too large", e.Message);
    }

    [Fact]
    public void A_long_chain_parses_without_recursion()
    {
        var text = string.Join(" -> ", Enumerable.Range(0, 20_000).Select(i => $"IN n{i}(C) OUT")) + " -> IN end(C)\n";

        var g = FbpParser.Parse(text);

        Assert.Equal(20_000, g.Connections.Count);
    }

    [Theory]
    [InlineData(0.0, "0")]
    [InlineData(1.0, "1")]
    [InlineData(-2.5, "-2.5")]
    [InlineData(1e21, "1e+21")]
    [InlineData(1e20, "100000000000000000000")]
    [InlineData(123456789012345678901234567890.0, "1.2345678901234568e+29")]
    [InlineData(0.000001, "0.000001")]
    [InlineData(1e-7, "1e-7")]
    [InlineData(5.5e-10, "5.5e-10")]
    [InlineData(0.1, "0.1")]
    [InlineData(1.7976931348623157e308, "1.7976931348623157e+308")]
    [InlineData(5e-324, "5e-324")]
    [InlineData(123.456, "123.456")]
    public void Numbers_format_as_javascript_does(double value, string expected) =>
        Assert.Equal(expected, JsNumber.Format(value));

    [Fact]
    public void Negative_zero_formats_as_zero() => Assert.Equal("0", JsNumber.Format(-0.0));

    [Fact]
    public void Strings_escape_as_json_stringify_does()
    {
        var text = new System.Text.StringBuilder();
        JsJsonWriter.WriteString(text, "q\" b\\ \b\f\n\r\t \u0001 \u001f é 😀 \ud800 \udc00x \u2028");

        Assert.Equal("\"q\\\" b\\\\ \\b\\f\\n\\r\\t \\u0001 \\u001f é 😀 \\ud800 \\udc00x \u2028\"", text.ToString());
    }

    [Fact]
    public void A_json_graph_round_trips_through_to_json_with_js_key_order()
    {
        const string Json = """
            {"inports":{},"outports":{},"groups":[{"name":"g","nodes":["a"]}],"processes":{"a":{"metadata":{"10":1,"9":2},"component":"A"}},"connections":[{"data":1.50,"tgt":{"process":"a","port":"in","index":3}}],"properties":{},"caseSensitive":false}
            """;

        var g = FlowGraph.FromJson(Json);

        Assert.Equal("""{"inports":{},"outports":{},"groups":[{"name":"g","nodes":["a"]}],"processes":{"a":{"metadata":{"9":2,"10":1},"component":"A"}},"connections":[{"data":1.5,"tgt":{"process":"a","port":"in","index":3}}],"properties":{},"caseSensitive":false}""", g.ToJson(indented: false));
    }

    private static string Stringify(JsonNode? node)
    {
        var text = new System.Text.StringBuilder();
        new JsJsonWriter(text, indented: false).Node(node);
        return text.ToString();
    }
}
