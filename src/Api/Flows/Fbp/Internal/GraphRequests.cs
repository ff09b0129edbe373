using System.Text.Json.Nodes;
using Trellis.Flows.Graphs;

namespace Trellis.Api.Flows.Fbp.Internal;

/// <summary>A <c>graph:*</c> request read into the <see cref="GraphChange"/> it makes and the reply that echoes it.</summary>
internal sealed record GraphRequest(string Graph, GraphChange Change, JsonObject Echo);

/// <summary>Maps the payloads of the <c>graph:*</c> commands (fbp-protocol schema/yaml/graph.yml) to
/// <see cref="GraphChange"/>s, checking the fields each command requires.</summary>
internal static class GraphRequests
{
    public static readonly IReadOnlySet<string> Commands = new HashSet<string>(StringComparer.Ordinal)
    {
        "clear", "addnode", "removenode", "renamenode", "changenode", "addedge", "removeedge", "changeedge",
        "addinitial", "removeinitial", "addinport", "removeinport", "renameinport", "addoutport", "removeoutport",
        "renameoutport",
    };

    /// <summary>Group commands: in the schema, not in <see cref="GraphChange"/>.</summary>
    public static readonly IReadOnlySet<string> Unsupported = new HashSet<string>(StringComparer.Ordinal)
    {
        "addgroup", "removegroup", "renamegroup", "changegroup",
    };

    public static GraphRequest Read(string command, JsonObject raw)
    {
        var p = new FbpPayload($"graph:{command}", raw);
        if (command == "clear")
        {
            // clear names its graph by id; the other fields are the new graph's properties.
            var id = p.RequireString("id");
            var properties = new JsonObject();
            var echo = new JsonObject { ["id"] = id };
            foreach (var field in (string[])["name", "library", "icon", "description"])
            {
                if (p.OptionalString(field) is { } value)
                {
                    properties[field] = value;
                    echo[field] = value;
                }
            }

            if (p.OptionalBool("main") is { } main)
            {
                echo["main"] = main;
            }

            return new GraphRequest(id, new GraphChange(GraphChangeKind.Clear, Properties: properties), echo);
        }

        if (!Commands.Contains(command))
        {
            throw new FbpProtocolException(Unsupported.Contains(command)
                ? $"graph:{command} is not supported: Trellis graphs have no groups"
                : $"unknown command graph:{command}");
        }

        var graph = p.RequireGraph();
        var reply = new JsonObject();
        GraphChange change;
        switch (command)
        {
            case "addnode":
            {
                var id = p.RequireString("id");
                var component = p.RequireString("component");
                var metadata = p.OptionalObject("metadata");
                change = new GraphChange(GraphChangeKind.AddNode, Node: id, Component: component, Metadata: metadata);
                reply["id"] = id;
                reply["component"] = component;
                Put(reply, "metadata", metadata);
                break;
            }

            case "removenode":
            {
                var id = p.RequireString("id");
                change = new GraphChange(GraphChangeKind.RemoveNode, Node: id);
                reply["id"] = id;
                break;
            }

            case "renamenode":
            {
                var from = p.RequireString("from");
                var to = p.RequireString("to");
                change = new GraphChange(GraphChangeKind.RenameNode, Node: from, Name: to);
                reply["from"] = from;
                reply["to"] = to;
                break;
            }

            case "changenode":
            {
                var id = p.RequireString("id");
                var metadata = p.RequireObject("metadata");
                change = new GraphChange(GraphChangeKind.ChangeNode, Node: id, Metadata: metadata);
                reply["id"] = id;
                reply["metadata"] = metadata.DeepClone();
                break;
            }

            case "addedge" or "removeedge" or "changeedge":
            {
                var src = p.RequirePortRef("src");
                var tgt = p.RequirePortRef("tgt");
                var metadata = command == "changeedge" ? p.RequireObject("metadata") : p.OptionalObject("metadata");
                var kind = command switch
                {
                    "addedge" => GraphChangeKind.AddEdge,
                    "removeedge" => GraphChangeKind.RemoveEdge,
                    _ => GraphChangeKind.ChangeEdge,
                };
                change = new GraphChange(kind, Src: src, Tgt: tgt, Metadata: kind == GraphChangeKind.RemoveEdge ? null : metadata);
                reply["src"] = Port(src);
                reply["tgt"] = Port(tgt);
                if (kind != GraphChangeKind.RemoveEdge)
                {
                    Put(reply, "metadata", metadata);
                }

                break;
            }

            case "addinitial":
            {
                var src = p.RequireObject("src");
                if (!src.TryGetPropertyValue("data", out var data))
                {
                    throw p.Error("payload.src.data is required (the IIP's value; null is a value)");
                }

                var tgt = p.RequirePortRef("tgt");
                var metadata = p.OptionalObject("metadata");
                change = new GraphChange(GraphChangeKind.AddInitial, Tgt: tgt, Data: data?.DeepClone(), Metadata: metadata);
                reply["src"] = new JsonObject { ["data"] = data?.DeepClone() };
                reply["tgt"] = Port(tgt);
                Put(reply, "metadata", metadata);
                break;
            }

            case "removeinitial":
            {
                var tgt = p.RequirePortRef("tgt");
                change = new GraphChange(GraphChangeKind.RemoveInitial, Tgt: tgt);
                reply["tgt"] = Port(tgt);
                break;
            }

            case "addinport" or "addoutport":
            {
                var name = p.RequireString("public");
                var node = p.RequireString("node");
                var port = p.RequireString("port");
                var metadata = p.OptionalObject("metadata");
                var kind = command == "addinport" ? GraphChangeKind.AddInport : GraphChangeKind.AddOutport;
                change = new GraphChange(kind, Node: node, Name: name, Port: port, Metadata: metadata);
                reply["public"] = name;
                reply["node"] = node;
                reply["port"] = port;
                Put(reply, "metadata", metadata);
                break;
            }

            case "removeinport" or "removeoutport":
            {
                var name = p.RequireString("public");
                change = new GraphChange(command == "removeinport" ? GraphChangeKind.RemoveInport : GraphChangeKind.RemoveOutport, Name: name);
                reply["public"] = name;
                break;
            }

            default: // renameinport, renameoutport
            {
                var from = p.RequireString("from");
                var to = p.RequireString("to");
                change = new GraphChange(command == "renameinport" ? GraphChangeKind.RenameInport : GraphChangeKind.RenameOutport, Port: from, Name: to);
                reply["from"] = from;
                reply["to"] = to;
                break;
            }
        }

        reply["graph"] = graph;
        return new GraphRequest(graph, change, reply);
    }

    /// <summary>An edge end as the protocol writes it: <c>{node, port, index?}</c>.</summary>
    public static JsonObject Port(FlowPortRef end)
    {
        var o = new JsonObject { ["node"] = end.Process, ["port"] = end.Port };
        if (end.Index is { } i)
        {
            o["index"] = i;
        }

        return o;
    }

    private static void Put(JsonObject reply, string field, JsonObject? value)
    {
        if (value is not null)
        {
            reply[field] = value.DeepClone();
        }
    }
}
