using System.Text.Json;
using System.Text.Json.Nodes;
using Trellis.Core.Errors;

namespace Trellis.Flows.Graphs;

public sealed partial class FlowGraph
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>The graph as JSON, field for field as the <c>fbp</c> parser prints it.</summary>
    public string ToJson(bool indented = true) => ToJsonNode().ToJsonString(indented ? Indented : null);

    public JsonObject ToJsonNode()
    {
        var root = new JsonObject
        {
            ["inports"] = Exports(Inports),
            ["outports"] = Exports(Outports),
            ["groups"] = new JsonArray(Groups.Select(g =>
            {
                var o = new JsonObject { ["name"] = g.Name, ["nodes"] = new JsonArray(g.Nodes.Select(n => (JsonNode?)n).ToArray()) };
                if (g.Metadata is not null)
                {
                    o["metadata"] = g.Metadata.DeepClone();
                }

                return (JsonNode?)o;
            }).ToArray()),
        };
        var processes = new JsonObject();
        foreach (var (id, p) in Processes)
        {
            var o = new JsonObject { ["component"] = p.Component };
            if (p.Metadata is not null)
            {
                o["metadata"] = p.Metadata.DeepClone();
            }

            processes[id] = o;
        }

        root["processes"] = processes;
        var connections = new JsonArray();
        foreach (var c in Connections)
        {
            var o = new JsonObject();
            if (c.Src is { } src)
            {
                o["src"] = End(src);
            }
            else
            {
                o["data"] = c.Data?.DeepClone();
            }

            o["tgt"] = End(c.Tgt);
            if (c.Metadata is not null)
            {
                o["metadata"] = c.Metadata.DeepClone();
            }

            connections.Add(o);
        }

        root["connections"] = connections;
        root["properties"] = Properties.DeepClone();
        root["caseSensitive"] = CaseSensitive;
        return root;

        static JsonObject Exports(OrderedDictionary<string, FlowExport> ports)
        {
            var o = new JsonObject();
            foreach (var (name, e) in ports)
            {
                var port = new JsonObject { ["process"] = e.Process, ["port"] = e.Port };
                if (e.Metadata is not null)
                {
                    port["metadata"] = e.Metadata.DeepClone();
                }

                o[name] = port;
            }

            return o;
        }

        static JsonObject End(FlowPortRef end)
        {
            var o = new JsonObject { ["process"] = end.Process, ["port"] = end.Port };
            if (end.Index is { } i)
            {
                o["index"] = i;
            }

            return o;
        }
    }

    /// <summary>Reads a graph in the JSON graph format; a field of the wrong shape is refused naming it.</summary>
    public static FlowGraph FromJson(string json)
    {
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(json);
        }
        catch (JsonException e)
        {
            throw TrellisException.Invalid($"the graph is not valid JSON: {e.Message}");
        }

        return FromJsonNode(node as JsonObject ?? throw TrellisException.Invalid("the graph must be a JSON object"));
    }

    public static FlowGraph FromJsonNode(JsonObject root)
    {
        var graph = new FlowGraph
        {
            CaseSensitive = root["caseSensitive"] is JsonValue cs && cs.TryGetValue(out bool b) && b,
            Properties = Object(root["properties"], "properties") ?? [],
        };
        foreach (var (id, value) in Object(root["processes"], "processes") ?? [])
        {
            var p = value as JsonObject ?? throw TrellisException.Invalid($"processes.{id} must be an object");
            graph.Processes.Add(id, new FlowProcess(String(p["component"], $"processes.{id}.component"), Object(p["metadata"], $"processes.{id}.metadata")));
        }

        var connections = root["connections"] switch
        {
            null => [],
            JsonArray a => a,
            _ => throw TrellisException.Invalid("connections must be an array"),
        };
        for (var i = 0; i < connections.Count; i++)
        {
            var c = connections[i] as JsonObject ?? throw TrellisException.Invalid($"connections[{i}] must be an object");
            var tgt = End(c["tgt"], $"connections[{i}].tgt") ?? throw TrellisException.Invalid($"connections[{i}].tgt is missing");
            var src = End(c["src"], $"connections[{i}].src");
            if (src is null && !c.ContainsKey("data"))
            {
                throw TrellisException.Invalid($"connections[{i}] needs a src or data");
            }

            graph.Connections.Add(new FlowConnection(src, tgt, src is null ? c["data"]?.DeepClone() : null, Object(c["metadata"], $"connections[{i}].metadata")));
        }

        ReadExports(root["inports"], "inports", graph.Inports);
        ReadExports(root["outports"], "outports", graph.Outports);
        if (root["groups"] is JsonArray groups)
        {
            for (var i = 0; i < groups.Count; i++)
            {
                var g = groups[i] as JsonObject ?? throw TrellisException.Invalid($"groups[{i}] must be an object");
                var nodes = g["nodes"] as JsonArray ?? [];
                graph.Groups.Add(new FlowGroup(
                    String(g["name"], $"groups[{i}].name"),
                    nodes.Select((n, j) => String(n, $"groups[{i}].nodes[{j}]")).ToList(),
                    Object(g["metadata"], $"groups[{i}].metadata")));
            }
        }

        return graph;

        static void ReadExports(JsonNode? node, string field, OrderedDictionary<string, FlowExport> into)
        {
            foreach (var (name, value) in Object(node, field) ?? [])
            {
                var e = value as JsonObject ?? throw TrellisException.Invalid($"{field}.{name} must be an object");
                into.Add(name, new FlowExport(String(e["process"], $"{field}.{name}.process"), String(e["port"], $"{field}.{name}.port"), Object(e["metadata"], $"{field}.{name}.metadata")));
            }
        }
    }

    private static JsonObject? Object(JsonNode? node, string field) => node switch
    {
        null => null,
        JsonObject o => (JsonObject)o.DeepClone(),
        _ => throw TrellisException.Invalid($"{field} must be an object"),
    };

    private static string String(JsonNode? node, string field) =>
        node is JsonValue v && v.TryGetValue(out string? s) && !string.IsNullOrEmpty(s)
            ? s
            : throw TrellisException.Invalid($"{field} must be a non-empty string");

    private static FlowPortRef? End(JsonNode? node, string field)
    {
        if (node is null)
        {
            return null;
        }

        var o = node as JsonObject ?? throw TrellisException.Invalid($"{field} must be an object");
        int? index = o["index"] switch
        {
            null => null,
            JsonValue v when v.TryGetValue(out int i) && i >= 0 => i,
            JsonValue v when v.TryGetValue(out double d) && d >= 0 && d == Math.Floor(d) && d <= int.MaxValue => (int)d,
            _ => throw TrellisException.Invalid($"{field}.index must be a non-negative integer"),
        };
        return new FlowPortRef(String(o["process"], $"{field}.process"), String(o["port"], $"{field}.port"), index);
    }
}
