using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Trellis.Flows.Discovery;

/// <summary>Reads and writes the announcements participants send on the <c>fbp</c> queue
/// (<c>{"protocol":"discovery","command":"participant","payload":{…}}</c>), accepting what msgflo's coordinator accepts.</summary>
/// <remarks>msgflo (<c>coordinator.coffee</c> <c>handleFbpMessage</c>, <c>participantDiscovered</c>) requires the protocol
/// and command and a payload with <c>id</c>, <c>component</c>, <c>role</c>, <c>inports</c> and <c>outports</c>; so do we,
/// and each problem is reported by the field it is about. Ports need an <c>id</c>; a port without a <c>queue</c> (or
/// <c>hidden</c>) cannot be wired. <c>payload.heartbeat</c>, in seconds, is Trellis' extension (MsgFlo #73): how long
/// after its last announcement the participant counts as gone.</remarks>
public static class DiscoveryMessage
{
    public const string Protocol = "discovery";

    public const string Command = "participant";

    /// <summary>The longest heartbeat a participant may declare.</summary>
    public static readonly TimeSpan MaxHeartbeat = TimeSpan.FromDays(365);

    private static readonly JsonNodeOptions NodeOptions = new() { PropertyNameCaseInsensitive = false };

    /// <summary>Parses an announcement; on failure <paramref name="error"/> says what is wrong, naming the field.</summary>
    /// <param name="defaultHeartbeat">The heartbeat of a participant that declares none.</param>
    public static bool TryParse(
        ReadOnlySpan<byte> body,
        TimeSpan defaultHeartbeat,
        [NotNullWhen(true)] out ParticipantDefinition? definition,
        [NotNullWhen(false)] out string? error)
    {
        definition = null;
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(body, NodeOptions);
        }
        catch (JsonException e)
        {
            error = $"discovery message is not JSON: {e.Message}";
            return false;
        }

        if (root is not JsonObject message)
        {
            error = $"discovery message is not a JSON object (was {Kind(root)})";
            return false;
        }

        var protocol = message["protocol"];
        var command = message["command"];
        if (Text(protocol) != Protocol || Text(command) != Command)
        {
            error = $"unknown FBP message {Show(protocol)}:{Show(command)} (expected {Protocol}:{Command})";
            return false;
        }

        if (message["payload"] is not JsonObject payload)
        {
            error = message["payload"] is null ? "discovery message missing .payload" : $"discovery message .payload must be an object (was {Kind(message["payload"])})";
            return false;
        }

        message.Remove("payload");
        return TryParsePayload(payload, defaultHeartbeat, out definition, out error);
    }

    /// <summary>Reads a participant's payload (what an announcement carries, or a definition given by other means).</summary>
    public static bool TryParsePayload(
        JsonObject payload,
        TimeSpan defaultHeartbeat,
        [NotNullWhen(true)] out ParticipantDefinition? definition,
        [NotNullWhen(false)] out string? error)
    {
        ArgumentNullException.ThrowIfNull(payload);
        definition = null;
        if (!TryRequired(payload, "id", out var id, out error)
            || !TryRequired(payload, "component", out var component, out error)
            || !TryRequired(payload, "role", out var role, out error)
            || !TryPorts(payload, "inports", out var inports, out error)
            || !TryPorts(payload, "outports", out var outports, out error)
            || !TryHeartbeat(payload, defaultHeartbeat, out var heartbeat, out error))
        {
            return false;
        }

        definition = new ParticipantDefinition(id, role, component, Text(payload["label"]), Text(payload["icon"]), inports, outports, heartbeat, payload);
        return true;
    }

    /// <summary>The announcement of <paramref name="payload"/> as a participant sends it.</summary>
    public static byte[] Create(JsonObject payload)
    {
        ArgumentNullException.ThrowIfNull(payload);
        var message = new JsonObject
        {
            ["protocol"] = Protocol,
            ["command"] = Command,
            ["payload"] = payload.DeepClone(),
        };
        return JsonSerializer.SerializeToUtf8Bytes(message);
    }

    private static bool TryRequired(JsonObject payload, string field, [NotNullWhen(true)] out string? value, [NotNullWhen(false)] out string? error)
    {
        var node = payload[field];
        value = Text(node);
        if (!string.IsNullOrEmpty(value))
        {
            error = null;
            return true;
        }

        value = null;
        error = node is null || (node.GetValueKind() == JsonValueKind.String)
            ? $"discovery message missing .{field}"
            : $"discovery message .{field} must be a string (was {Kind(node)})";
        return false;
    }

    private static bool TryPorts(JsonObject payload, string field, [NotNullWhen(true)] out IReadOnlyList<ParticipantPort>? ports, [NotNullWhen(false)] out string? error)
    {
        ports = null;
        if (payload[field] is not JsonArray array)
        {
            error = payload[field] is null ? $"discovery message missing .{field}" : $"discovery message .{field} must be an array (was {Kind(payload[field])})";
            return false;
        }

        var list = new List<ParticipantPort>(array.Count);
        for (var i = 0; i < array.Count; i++)
        {
            var where = $".{field}[{i}]";
            if (array[i] is not JsonObject port)
            {
                error = $"discovery message {where} must be an object (was {Kind(array[i])})";
                return false;
            }

            if (Text(port["id"]) is not { Length: > 0 } id)
            {
                error = $"discovery message {where} missing .id";
                return false;
            }

            var persistent = true;
            if (port["persistent"] is { } p)
            {
                if (p.GetValueKind() is not (JsonValueKind.True or JsonValueKind.False))
                {
                    error = $"discovery message {where}.persistent must be true or false (was {Kind(p)})";
                    return false;
                }

                persistent = p.GetValue<bool>();
            }

            var hidden = port["hidden"] is { } h && h.GetValueKind() == JsonValueKind.True;
            var queue = hidden ? null : Text(port["queue"]) is { Length: > 0 } q ? q : null;
            list.Add(new ParticipantPort(id, queue, Text(port["type"]), Text(port["description"]), persistent));
        }

        ports = list;
        error = null;
        return true;
    }

    private static bool TryHeartbeat(JsonObject payload, TimeSpan defaultHeartbeat, out TimeSpan heartbeat, [NotNullWhen(false)] out string? error)
    {
        heartbeat = defaultHeartbeat;
        error = null;
        var node = payload["heartbeat"];
        if (node is null)
        {
            return true;
        }

        if (node.GetValueKind() == JsonValueKind.Number && node.AsValue().TryGetValue<double>(out var seconds)
            && double.IsFinite(seconds) && seconds > 0 && seconds <= MaxHeartbeat.TotalSeconds)
        {
            heartbeat = TimeSpan.FromSeconds(seconds);
            return true;
        }

        error = $"discovery message .heartbeat must be a positive number of seconds up to {MaxHeartbeat.TotalSeconds.ToString(CultureInfo.InvariantCulture)} (was {node.ToJsonString()})";
        return false;
    }

    private static string? Text(JsonNode? node) =>
        node is JsonValue value && value.GetValueKind() == JsonValueKind.String ? value.GetValue<string>() : null;

    private static string Show(JsonNode? node) => node is null ? "(none)" : Text(node) ?? node.ToJsonString();

    private static string Kind(JsonNode? node) => node is null ? "null" : node.GetValueKind().ToString().ToLowerInvariant();
}
