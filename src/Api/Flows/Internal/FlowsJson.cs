using System.Text.Json;
using System.Text.Json.Nodes;
using Trellis.Flows.Broker;
using Trellis.Flows.Discovery;
using Trellis.Flows.Networks;

namespace Trellis.Api.Flows.Internal;

/// <summary>How the flows HTTP API writes participants and setups.</summary>
internal static class FlowsJson
{
    public static string Status(ParticipantStatus status) => status == ParticipantStatus.Online ? "online" : "expired";

    public static string BindingType(FlowBindingKind kind) => kind == FlowBindingKind.PubSub ? "pubsub" : "roundrobin";

    /// <summary><c>{id, role, component, label, icon, inports, outports, firstSeen, lastSeen, status}</c>; the ports as the
    /// participant announced them.</summary>
    public static void WriteParticipant(Utf8JsonWriter w, ParticipantInfo info)
    {
        var d = info.Definition;
        w.WriteStartObject();
        w.WriteString("id", d.Id);
        w.WriteString("role", d.Role);
        w.WriteString("component", d.Component);
        WriteOptional(w, "label", d.Label);
        WriteOptional(w, "icon", d.Icon);
        WritePorts(w, "inports", d.Payload["inports"], d.Inports);
        WritePorts(w, "outports", d.Payload["outports"], d.Outports);
        w.WriteString("firstSeen", info.FirstSeen);
        w.WriteString("lastSeen", info.LastSeen);
        w.WriteString("status", Status(info.Status));
        w.WriteEndObject();
    }

    public static void WriteSetup(Utf8JsonWriter w, FlowSetup setup)
    {
        w.WriteStartObject();
        w.WriteStartArray("bindings");
        foreach (var b in setup.Bindings)
        {
            w.WriteStartObject();
            w.WriteString("type", BindingType(b.Kind));
            WriteOptional(w, "src", b.Source);
            WriteOptional(w, "tgt", b.Target);
            if (b.DeadLetter is not null)
            {
                w.WriteString("deadletter", b.DeadLetter);
            }

            w.WriteEndObject();
        }

        w.WriteEndArray();
        WriteStrings(w, "lines", setup.Bindings.SelectMany(static b => b.Describe()));
        WriteStrings(w, "pending", setup.Pending);
        WriteStrings(w, "problems", setup.Problems);
        w.WriteEndObject();
    }

    public static void WriteStrings(Utf8JsonWriter w, string name, IEnumerable<string> values)
    {
        w.WriteStartArray(name);
        foreach (var v in values)
        {
            w.WriteStringValue(v);
        }

        w.WriteEndArray();
    }

    /// <summary>A message body as JSON when it is JSON, else as its text.</summary>
    public static void WriteBody(Utf8JsonWriter w, ReadOnlyMemory<byte> body)
    {
        var reader = new Utf8JsonReader(body.Span);
        try
        {
            using var doc = JsonDocument.ParseValue(ref reader);
            if (reader.BytesConsumed == body.Length || body.Span[(int)reader.BytesConsumed..].Trim(" \t\r\n"u8).IsEmpty)
            {
                doc.RootElement.WriteTo(w);
                return;
            }
        }
        catch (JsonException)
        {
        }

        w.WriteStringValue(System.Text.Encoding.UTF8.GetString(body.Span));
    }

    private static void WritePorts(Utf8JsonWriter w, string name, JsonNode? announced, IReadOnlyList<ParticipantPort> parsed)
    {
        w.WritePropertyName(name);
        if (announced is JsonArray)
        {
            announced.WriteTo(w);
            return;
        }

        w.WriteStartArray();
        foreach (var p in parsed)
        {
            w.WriteStartObject();
            w.WriteString("id", p.Id);
            WriteOptional(w, "queue", p.Queue);
            WriteOptional(w, "type", p.Type);
            WriteOptional(w, "description", p.Description);
            w.WriteEndObject();
        }

        w.WriteEndArray();
    }

    private static void WriteOptional(Utf8JsonWriter w, string name, string? value)
    {
        if (value is null)
        {
            w.WriteNull(name);
        }
        else
        {
            w.WriteString(name, value);
        }
    }
}
