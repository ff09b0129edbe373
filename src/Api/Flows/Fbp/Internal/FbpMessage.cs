using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Trellis.Api.Flows.Fbp.Internal;

/// <summary>One client message of the FBP runtime protocol: <c>{protocol, command, payload, requestId?, secret?}</c>.</summary>
internal sealed record FbpMessage(string Protocol, string Command, JsonObject Payload, string? RequestId, string? Secret)
{
    /// <summary>Outgoing JSON as clients write it: "->" in edge ids, not "\u003E" (messages are never embedded in HTML).</summary>
    public static readonly JsonSerializerOptions Json = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The protocol an error about an unreadable message is reported on.</summary>
    public const string FallbackProtocol = "runtime";

    /// <summary>Reads a text frame; on failure returns null with the protocol to answer on (the request's when it named
    /// one) and a message naming the problem.</summary>
    public static FbpMessage? Parse(ReadOnlySpan<byte> utf8, out string errorProtocol, out string? requestId, out string? error)
    {
        errorProtocol = FallbackProtocol;
        requestId = null;
        error = null;
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(utf8, documentOptions: new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException e)
        {
            error = $"the message is not valid JSON: {Describe(e)}";
            return null;
        }
        catch (ArgumentException)
        {
            error = "the message is not valid UTF-8 text";
            return null;
        }

        if (root is not JsonObject obj)
        {
            error = $"the message must be a JSON object {{protocol, command, payload}}, not {Kind(root)}";
            return null;
        }

        requestId = obj["requestId"] is JsonValue r && r.TryGetValue(out string? rid) ? rid : null;
        var protocol = obj["protocol"] is JsonValue p && p.TryGetValue(out string? ps) ? ps : null;
        if (!string.IsNullOrEmpty(protocol))
        {
            errorProtocol = protocol;
        }

        if (obj["requestId"] is { } ridNode && requestId is null)
        {
            error = $"requestId must be a string, not {Kind(ridNode)}";
            return null;
        }

        if (string.IsNullOrEmpty(protocol))
        {
            error = obj.ContainsKey("protocol") ? "protocol must be a non-empty string" : "the message has no protocol";
            return null;
        }

        var command = obj["command"] is JsonValue c && c.TryGetValue(out string? cs) ? cs : null;
        if (string.IsNullOrEmpty(command))
        {
            error = obj.ContainsKey("command") ? "command must be a non-empty string" : "the message has no command";
            return null;
        }

        JsonObject payload;
        switch (obj["payload"])
        {
            case null:
                payload = [];
                break;
            case JsonObject o:
                payload = o;
                break;
            case var other:
                error = $"{protocol}:{command}: payload must be a JSON object, not {Kind(other)}";
                return null;
        }

        string? secret = null;
        if (obj["secret"] is { } s)
        {
            if (s is not JsonValue sv || !sv.TryGetValue(out secret))
            {
                error = "secret must be a string";
                return null;
            }
        }
        else if (payload["secret"] is JsonValue legacy && legacy.TryGetValue(out string? ls))
        {
            // fbp-protocol before 0.8 carried the secret in the payload; clients still send it there too.
            secret = ls;
        }

        return new FbpMessage(protocol, command, payload, requestId, secret);
    }

    /// <summary>The JSON type of a node, for error messages.</summary>
    public static string Kind(JsonNode? node) => node switch
    {
        null => "null",
        JsonObject => "an object",
        JsonArray => "an array",
        JsonValue v => v.GetValueKind() switch
        {
            JsonValueKind.String => "a string",
            JsonValueKind.Number => "a number",
            JsonValueKind.True or JsonValueKind.False => "a boolean",
            _ => "a value",
        },
        _ => "a value",
    };

    /// <summary>Serializes an outgoing message; <paramref name="responseTo"/> is the request's id when it had one.</summary>
    public static byte[] Serialize(string protocol, string command, JsonNode? payload, string? responseTo)
    {
        var message = new JsonObject
        {
            ["protocol"] = protocol,
            ["command"] = command,
            ["payload"] = payload,
        };
        if (responseTo is not null)
        {
            message["responseTo"] = responseTo;
        }

        return Encoding.UTF8.GetBytes(message.ToJsonString(Json));
    }

    private static string Describe(JsonException e) =>
        e.LineNumber is { } line ? $"line {line + 1}, position {e.BytePositionInLine + 1}" : "unreadable";
}
