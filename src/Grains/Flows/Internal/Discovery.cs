using System.Text.Json;
using System.Text.Json.Nodes;
using Trellis.Core.Errors;
using Trellis.Flows.Discovery;

namespace Trellis.Grains.Flows.Internal;

/// <summary>Reads discovery messages and stored payloads into participant definitions.</summary>
internal static class Discovery
{
    /// <summary>Parses a message from <c>fbp</c>; throws a <see cref="TrellisException"/> (InvalidArgument) naming the problem.</summary>
    public static ParticipantDefinition ParseMessage(ReadOnlySpan<byte> body)
    {
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(body);
        }
        catch (JsonException e)
        {
            throw TrellisException.Invalid($"the discovery message is not JSON: {e.Message}");
        }

        if (root is not JsonObject message)
        {
            throw TrellisException.Invalid("the discovery message must be a JSON object");
        }

        var protocol = Text(message, "protocol", "the discovery message");
        var command = Text(message, "command", "the discovery message");
        if (protocol != "discovery" || command != "participant")
        {
            throw TrellisException.Invalid($"unknown discovery command '{protocol}:{command}' (expected discovery:participant)");
        }

        if (message["payload"] is not JsonObject payload)
        {
            throw TrellisException.Invalid("the discovery message has no 'payload' object");
        }

        return FromPayload(payload);
    }

    /// <summary>A stored payload (JSON text) as a definition.</summary>
    public static ParticipantDefinition FromPayload(string payload) =>
        FromPayload(JsonNode.Parse(payload) as JsonObject ?? throw TrellisException.Invalid("a participant payload must be a JSON object"));

    private static ParticipantDefinition FromPayload(JsonObject payload)
    {
        var id = Text(payload, "id", "the participant");
        var role = Text(payload, "role", $"participant '{id}'");
        var component = payload["component"] is JsonValue c && c.TryGetValue(out string? cs) ? cs : role;
        TimeSpan? heartbeat = payload["heartbeat"] is JsonValue h && h.TryGetValue(out double seconds) && seconds > 0
            ? TimeSpan.FromSeconds(seconds)
            : null;
        return new ParticipantDefinition(
            id, role, component,
            OptionalText(payload, "label"), OptionalText(payload, "icon"),
            Ports(payload, "inports", id), Ports(payload, "outports", id),
            heartbeat, payload.DeepClone().AsObject());
    }

    private static List<ParticipantPort> Ports(JsonObject payload, string field, string id)
    {
        var ports = new List<ParticipantPort>();
        if (payload[field] is not JsonArray array)
        {
            return ports;
        }

        foreach (var item in array)
        {
            if (item is not JsonObject port)
            {
                throw TrellisException.Invalid($"participant '{id}': every entry of '{field}' must be an object");
            }

            var portId = Text(port, "id", $"participant '{id}' {field}");
            var persistent = port["options"] is not JsonObject options || options["persistent"] is not JsonValue p || !p.TryGetValue(out bool b) || b;
            ports.Add(new ParticipantPort(portId, OptionalText(port, "queue"), OptionalText(port, "type"), OptionalText(port, "description"), persistent));
        }

        return ports;
    }

    private static string Text(JsonObject o, string field, string what) =>
        o[field] is JsonValue v && v.TryGetValue(out string? s) && !string.IsNullOrEmpty(s)
            ? s
            : throw TrellisException.Invalid($"{what} has no '{field}'");

    private static string? OptionalText(JsonObject o, string field) => o[field] is JsonValue v && v.TryGetValue(out string? s) ? s : null;
}
