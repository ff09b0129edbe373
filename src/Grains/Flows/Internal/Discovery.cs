using System.Text.Json;
using System.Text.Json.Nodes;
using Trellis.Core.Errors;
using Trellis.Flows.Discovery;

namespace Trellis.Grains.Flows.Internal;

/// <summary>Reads discovery messages and stored payloads into participant definitions (with <see cref="DiscoveryMessage"/>).</summary>
internal static class Discovery
{
    /// <summary>Parses a message from <c>fbp</c>; throws a <see cref="TrellisException"/> (InvalidArgument) naming the problem.</summary>
    public static ParticipantDefinition ParseMessage(ReadOnlySpan<byte> body, TimeSpan defaultHeartbeat) =>
        DiscoveryMessage.TryParse(body, defaultHeartbeat, out var definition, out var error)
            ? definition
            : throw TrellisException.Invalid(error);

    /// <summary>A stored payload (JSON text) as a definition, with the heartbeat it was recorded with.</summary>
    public static ParticipantDefinition FromPayload(string payload, TimeSpan heartbeat)
    {
        JsonObject root;
        try
        {
            root = JsonNode.Parse(payload) as JsonObject ?? throw TrellisException.Invalid("a participant payload must be a JSON object");
        }
        catch (JsonException e)
        {
            throw TrellisException.Invalid($"a participant payload is not JSON: {e.Message}");
        }

        return DiscoveryMessage.TryParsePayload(root, heartbeat, out var definition, out var error)
            ? definition with { Heartbeat = definition.Heartbeat ?? heartbeat }
            : throw TrellisException.Invalid(error);
    }
}
