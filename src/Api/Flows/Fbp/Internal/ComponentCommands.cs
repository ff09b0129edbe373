using System.Text.Json;
using System.Text.Json.Nodes;
using Trellis.Flows.Discovery;
using Trellis.Flows.Networks;

namespace Trellis.Api.Flows.Fbp.Internal;

/// <summary><c>component:list</c> (one <c>component</c> per participant component, then <c>componentsready</c>) and
/// <c>component:getsource</c> (a graph as its JSON, a participant component as its discovery definition).</summary>
internal static class ComponentCommands
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static async Task HandleAsync(FbpSession session, FbpMessage message, CancellationToken cancellationToken)
    {
        switch (message.Command)
        {
            case "list":
                await ListAsync(session, message, cancellationToken);
                break;
            case "getsource":
                await GetSourceAsync(session, message, cancellationToken);
                break;
            case "source":
                throw new FbpProtocolException("component:source is not supported: components are participants that announce themselves on the fbp queue");
            default:
                throw new FbpProtocolException($"unknown command component:{message.Command} (list, getsource)");
        }
    }

    private static async Task ListAsync(FbpSession session, FbpMessage message, CancellationToken cancellationToken)
    {
        var components = Components(await session.RequireNetworks().ListParticipantsAsync(cancellationToken));
        foreach (var definition in components)
        {
            await session.ReplyAsync(message, "component", Describe(definition), cancellationToken);
        }

        await session.ReplyAsync(message, "componentsready", components.Count, cancellationToken);
    }

    /// <summary>One definition per component name: an online participant's before an expired one's, the newest first.</summary>
    internal static List<ParticipantDefinition> Components(IReadOnlyList<ParticipantInfo> participants) =>
        [.. participants
            .OrderBy(static p => p.Status == ParticipantStatus.Online ? 0 : 1)
            .ThenByDescending(static p => p.LastSeen)
            .DistinctBy(static p => p.Definition.Component, StringComparer.Ordinal)
            .OrderBy(static p => p.Definition.Component, StringComparer.Ordinal)
            .Select(static p => p.Definition)];

    /// <summary>The <c>component</c> payload of a participant (as msgflo describes its participants).</summary>
    internal static JsonObject Describe(ParticipantDefinition definition)
    {
        var o = new JsonObject
        {
            ["name"] = definition.Component,
            ["description"] = definition.Label ?? "",
            ["subgraph"] = false,
            ["inPorts"] = Ports(definition, definition.Inports, "inports"),
            ["outPorts"] = Ports(definition, definition.Outports, "outports"),
        };
        if (definition.Icon is { } icon)
        {
            o.Insert(2, "icon", icon);
        }

        return o;
    }

    private static JsonArray Ports(ParticipantDefinition definition, IReadOnlyList<ParticipantPort> ports, string field)
    {
        var announced = definition.Payload[field] as JsonArray;
        var result = new JsonArray();
        foreach (var port in ports)
        {
            var o = new JsonObject
            {
                ["id"] = port.Id,
                ["type"] = port.Type ?? "any",
                ["description"] = port.Description ?? "",
                ["addressable"] = false,
                ["required"] = false,
            };

            // The port's JSON schema URL, when the participant announced one.
            var raw = announced?.OfType<JsonObject>().FirstOrDefault(p => RuntimeCommands.String(p["id"]) == port.Id);
            if (RuntimeCommands.String(raw?["schema"]) is { } schema && Uri.TryCreate(schema, UriKind.Absolute, out _))
            {
                o["schema"] = schema;
            }

            result.Add(o);
        }

        return result;
    }

    private static async Task GetSourceAsync(FbpSession session, FbpMessage message, CancellationToken cancellationToken)
    {
        var name = new FbpPayload("component:getsource", message.Payload).RequireString("name");
        var networks = session.RequireNetworks();
        string code;
        if (name == IFlowNetworks.DefaultGraph || (await networks.ListGraphsAsync(cancellationToken)).Contains(name, StringComparer.Ordinal))
        {
            code = (await networks.GetGraphAsync(name, cancellationToken)).ToJson();
        }
        else
        {
            var definition = Components(await networks.ListParticipantsAsync(cancellationToken))
                .FirstOrDefault(d => d.Component == name)
                ?? throw new FbpProtocolException($"no graph or component '{name}'");
            code = definition.Payload.ToJsonString(Indented);
        }

        // The schema's name carries no library prefix: "default/main" is name "main" of library "default".
        var slash = name.LastIndexOf('/');
        var reply = new JsonObject { ["name"] = slash < 0 ? name : name[(slash + 1)..] };
        if (slash > 0)
        {
            reply["library"] = name[..slash];
        }

        reply["language"] = "json";
        reply["code"] = code;
        await session.ReplyAsync(message, "source", reply, cancellationToken);
    }
}
