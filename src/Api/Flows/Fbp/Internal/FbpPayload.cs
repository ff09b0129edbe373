using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Trellis.Flows.Graphs;

namespace Trellis.Api.Flows.Fbp.Internal;

/// <summary>Reads the fields of a payload with the schema's rules, throwing <see cref="FbpProtocolException"/> that
/// names the command and the field.</summary>
internal readonly struct FbpPayload(string what, JsonObject payload)
{
    /// <summary>The error the protocol's test suite expects when a graph command names no graph.</summary>
    public const string NoGraph = "No graph specified";

    public JsonObject Raw => payload;

    public string RequireString(string field) =>
        OptionalString(field) is { Length: > 0 } s ? s : throw Error(payload.ContainsKey(field)
            ? $"payload.{field} must be a non-empty string"
            : $"payload.{field} is required");

    public string? OptionalString(string field)
    {
        var node = payload[field];
        if (node is null)
        {
            return null;
        }

        return node is JsonValue v && v.GetValueKind() == JsonValueKind.String
            ? v.GetValue<string>()
            : throw Error($"payload.{field} must be a string, not {FbpMessage.Kind(node)}");
    }

    public bool? OptionalBool(string field) => payload[field] switch
    {
        null => null,
        JsonValue v when v.GetValueKind() is JsonValueKind.True or JsonValueKind.False => v.GetValue<bool>(),
        var other => throw Error($"payload.{field} must be a boolean, not {FbpMessage.Kind(other)}"),
    };

    /// <summary>The graph a graph command edits: required (the schema's rule and the runner's "No graph specified").</summary>
    public string RequireGraph() =>
        OptionalString("graph") is { Length: > 0 } g ? g : throw new FbpProtocolException(NoGraph);

    public JsonObject? OptionalObject(string field) => payload[field] switch
    {
        null => null,
        JsonObject o => (JsonObject)o.DeepClone(),
        var other => throw Error($"payload.{field} must be an object, not {FbpMessage.Kind(other)}"),
    };

    public JsonObject RequireObject(string field) =>
        OptionalObject(field) ?? throw Error($"payload.{field} is required (an object)");

    /// <summary>An edge end <c>{node, port, index?}</c>; index may be a number or a numeric string.</summary>
    public FlowPortRef RequirePortRef(string field) => PortRef(RequireObject(field), $"payload.{field}");

    public FlowPortRef PortRef(JsonObject end, string where)
    {
        var node = end["node"] is JsonValue n && n.GetValueKind() == JsonValueKind.String ? n.GetValue<string>() : null;
        var port = end["port"] is JsonValue p && p.GetValueKind() == JsonValueKind.String ? p.GetValue<string>() : null;
        if (string.IsNullOrEmpty(node))
        {
            throw Error($"{where}.node must be a non-empty string");
        }

        if (string.IsNullOrEmpty(port))
        {
            throw Error($"{where}.port must be a non-empty string");
        }

        int? index = end["index"] switch
        {
            null => null,
            JsonValue v when v.GetValueKind() == JsonValueKind.Number && v.TryGetValue(out int i) && i >= 0 => i,
            JsonValue v when v.GetValueKind() == JsonValueKind.String
                && int.TryParse(v.GetValue<string>(), NumberStyles.None, CultureInfo.InvariantCulture, out var i) => i,
            var other => throw Error($"{where}.index must be a non-negative integer (or its digits as a string), not {other.ToJsonString()}"),
        };
        return new FlowPortRef(node, port, index);
    }

    public FbpProtocolException Error(string message) => new($"{what}: {message}");
}
