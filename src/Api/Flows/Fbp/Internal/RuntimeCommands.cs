using System.Text.Json;
using System.Text.Json.Nodes;
using Trellis.Flows.Graphs;
using Trellis.Flows.Networks;

namespace Trellis.Api.Flows.Fbp.Internal;

/// <summary><c>runtime:getruntime</c> and <c>runtime:packet</c> (fbp-protocol schema/yaml/runtime.yml).</summary>
internal static class RuntimeCommands
{
    private static readonly HashSet<string> Events = ["connect", "begingroup", "data", "endgroup", "disconnect"];

    public static async Task HandleAsync(FbpSession session, FbpMessage message, CancellationToken cancellationToken)
    {
        switch (message.Command)
        {
            case "getruntime":
                await session.ReplyAsync(message, "runtime", session.Runtime.Describe(session.Authorized), cancellationToken);
                if (session.Authorized && session.Networks is { } networks)
                {
                    // "If the runtime is currently running a graph … it should follow up with a ports message."
                    await session.ReplyAsync(message, "ports", await PortsAsync(networks, IFlowNetworks.DefaultGraph, cancellationToken), cancellationToken);
                    await session.WatchOutportsAsync(IFlowNetworks.DefaultGraph, cancellationToken);
                }

                break;
            case "packet":
                await PacketAsync(session, message, cancellationToken);
                break;
            default:
                throw new FbpProtocolException($"unknown command runtime:{message.Command} (getruntime, packet)");
        }
    }

    private static async Task PacketAsync(FbpSession session, FbpMessage message, CancellationToken cancellationToken)
    {
        var p = new FbpPayload("runtime:packet", message.Payload);
        var port = p.RequireString("port");
        var ev = p.RequireString("event");
        if (!Events.Contains(ev))
        {
            throw p.Error($"payload.event must be one of connect, begingroup, data, endgroup, disconnect (was '{ev}')");
        }

        // The schema requires graph; msgflo clients leave it out and mean the main graph.
        var graph = p.OptionalString("graph") is { Length: > 0 } g ? g : IFlowNetworks.DefaultGraph;
        var type = p.OptionalString("type");
        var schema = p.OptionalString("schema");
        var networks = session.RequireNetworks();
        await session.WatchOutportsAsync(graph, cancellationToken);
        message.Payload.TryGetPropertyValue("payload", out var data);
        if (ev == "data")
        {
            // Brackets (connect, groups, disconnect) have no counterpart on a message queue: acknowledged, not sent.
            await networks.SendToInportAsync(graph, port, data?.DeepClone(), cancellationToken);
        }

        var reply = new JsonObject { ["port"] = port, ["event"] = ev, ["graph"] = graph };
        if (type is not null)
        {
            reply["type"] = type;
        }

        if (schema is not null)
        {
            reply["schema"] = schema;
        }

        if (message.Payload.ContainsKey("payload"))
        {
            reply["payload"] = data?.DeepClone();
        }

        await session.ReplyAsync(message, "packetsent", reply, cancellationToken);
    }

    /// <summary>The graph's exported ports (<c>runtime:ports</c>), typed from the participants that play their nodes.</summary>
    public static async Task<JsonObject> PortsAsync(IFlowNetworks networks, string graph, CancellationToken cancellationToken)
    {
        var definition = await networks.GetGraphAsync(graph, cancellationToken);
        var participants = definition.Inports.Count + definition.Outports.Count == 0
            ? []
            : await networks.ListParticipantsAsync(cancellationToken);
        return new JsonObject
        {
            ["graph"] = graph,
            ["inPorts"] = Ports(definition.Inports, participants, inport: true),
            ["outPorts"] = Ports(definition.Outports, participants, inport: false),
        };
    }

    private static JsonArray Ports(OrderedDictionary<string, FlowExport> exports, IReadOnlyList<ParticipantInfo> participants, bool inport)
    {
        var ports = new JsonArray();
        foreach (var (name, export) in exports)
        {
            var definition = participants.FirstOrDefault(i => i.Definition.Role == export.Process)?.Definition;
            var port = inport ? definition?.FindInport(export.Port) : definition?.FindOutport(export.Port);
            var o = new JsonObject
            {
                ["id"] = name,
                ["type"] = port?.Type ?? "any",
                ["addressable"] = false,
                ["required"] = false,
            };
            if (port?.Description is { } description)
            {
                o["description"] = description;
            }

            ports.Add(o);
        }

        return ports;
    }

    internal static string? String(JsonNode? node) =>
        node is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : null;
}
