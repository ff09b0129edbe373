using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Trellis.Core.Errors;
using Trellis.Flows.Graphs.Internal;

namespace Trellis.Flows.Graphs;

public sealed partial class FlowGraph
{
    // Parsed graphs may carry two details of the JavaScript objects fbp builds that the model does not hold: a node
    // whose metadata key came before its component key, and an empty "properties" object that was present.
    private HashSet<FlowProcess>? _metadataFirst;

    /// <summary>True when "properties" is printed even if empty (fbp prints it only once an annotation made it).</summary>
    internal bool ShowEmptyProperties { get; set; }

    internal void MarkMetadataFirst(FlowProcess process) => (_metadataFirst ??= new(ReferenceEqualityComparer.Instance)).Add(process);

    /// <summary>The graph as JSON, byte for byte as <c>JSON.stringify(graph, null, 2)</c> prints the <c>fbp</c>
    /// parser's result (or <c>JSON.stringify(graph)</c> when not indented): JS number formatting and string escaping,
    /// JS key order, and no "properties" when there are none.</summary>
    public string ToJson(bool indented = true)
    {
        var text = new StringBuilder(256 + (Connections.Count * 160));
        WriteJson(text, indented);
        return text.ToString();
    }

    internal void WriteJson(StringBuilder text, bool indented)
    {
        var w = new JsJsonWriter(text, indented);
        w.BeginObject();
        w.Name("inports");
        Exports(w, Inports);
        w.Name("outports");
        Exports(w, Outports);
        w.Name("groups");
        w.BeginArray();
        foreach (var g in Groups)
        {
            w.Element();
            w.BeginObject();
            w.Name("name");
            w.String(g.Name);
            w.Name("nodes");
            w.BeginArray();
            foreach (var n in g.Nodes)
            {
                w.Element();
                w.String(n);
            }

            w.EndArray();
            Metadata(w, g.Metadata);
            w.EndObject();
        }

        w.EndArray();
        w.Name("processes");
        w.BeginObject();
        var ids = Processes.Keys.ToArray();
        foreach (var i in JsKeys.Order(ids))
        {
            var p = Processes[ids[i]];
            w.Name(ids[i]);
            w.BeginObject();
            var metadataFirst = _metadataFirst?.Contains(p) == true;
            if (metadataFirst)
            {
                Metadata(w, p.Metadata);
            }

            w.Name("component");
            w.String(p.Component);
            if (!metadataFirst)
            {
                Metadata(w, p.Metadata);
            }

            w.EndObject();
        }

        w.EndObject();
        w.Name("connections");
        w.BeginArray();
        foreach (var c in Connections)
        {
            w.Element();
            w.BeginObject();
            if (c.Src is { } src)
            {
                w.Name("src");
                End(w, src);
            }
            else
            {
                w.Name("data");
                w.Node(c.Data);
            }

            w.Name("tgt");
            End(w, c.Tgt);
            Metadata(w, c.Metadata);
            w.EndObject();
        }

        w.EndArray();
        if (Properties.Count > 0 || ShowEmptyProperties)
        {
            w.Name("properties");
            w.Node(Properties);
        }

        w.Name("caseSensitive");
        w.Bool(CaseSensitive);
        w.EndObject();

        static void Exports(JsJsonWriter w, OrderedDictionary<string, FlowExport> ports)
        {
            w.BeginObject();
            var names = ports.Keys.ToArray();
            foreach (var i in JsKeys.Order(names))
            {
                var e = ports[names[i]];
                w.Name(names[i]);
                w.BeginObject();
                w.Name("process");
                w.String(e.Process);
                w.Name("port");
                w.String(e.Port);
                Metadata(w, e.Metadata);
                w.EndObject();
            }

            w.EndObject();
        }

        static void End(JsJsonWriter w, FlowPortRef end)
        {
            w.BeginObject();
            w.Name("process");
            w.String(end.Process);
            w.Name("port");
            w.String(end.Port);
            if (end.Index is { } i)
            {
                w.Name("index");
                w.Number(i);
            }

            w.EndObject();
        }

        static void Metadata(JsJsonWriter w, JsonObject? metadata)
        {
            if (metadata is not null)
            {
                w.Name("metadata");
                w.Node(metadata);
            }
        }
    }

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
            ShowEmptyProperties = root["properties"] is JsonObject,
        };
        foreach (var (id, value) in Object(root["processes"], "processes") ?? [])
        {
            var p = value as JsonObject ?? throw TrellisException.Invalid($"processes.{id} must be an object");
            var process = new FlowProcess(String(p["component"], $"processes.{id}.component"), Object(p["metadata"], $"processes.{id}.metadata"));
            graph.Processes.Add(id, process);
            if (process.Metadata is not null && p.IndexOf("metadata") < p.IndexOf("component"))
            {
                graph.MarkMetadataFirst(process);
            }
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
