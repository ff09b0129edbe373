using System.Buffers;
using System.Text;
using System.Text.Json;

namespace Trellis.Edge.Activities.Internal;

/// <summary>What an activity wrote on one stdout line.</summary>
internal readonly record struct ActivityReply(string? Id, string? Port, ReadOnlyMemory<byte> Data, bool Ack, string? Error);

/// <summary>The JSON-lines protocol between a host and an activity process, line for line as a silo's host speaks it
/// (src/Flows/Activities/Internal/ActivityProtocol.cs and its README), so one activity directory runs unchanged on both.
/// JsonDocument and Utf8JsonWriter only: nothing here needs reflection, so the agent stays trimmable.</summary>
internal static class ActivityProtocol
{
    private static readonly JsonWriterOptions WriterOptions = new() { Indented = false, SkipValidation = false };

    /// <summary>Writes <c>{"id":…,"port":…,"data":…}\n</c>. A body that is not JSON is passed as a string.</summary>
    public static void WriteInput(IBufferWriter<byte> output, string id, string port, ReadOnlySpan<byte> body)
    {
        using (var writer = new Utf8JsonWriter(output, WriterOptions))
        {
            writer.WriteStartObject();
            writer.WriteString("id"u8, id);
            writer.WriteString("port"u8, port);
            writer.WritePropertyName("data"u8);
            if (!TryWriteJson(writer, body))
            {
                writer.WriteStringValue(Encoding.UTF8.GetString(body));
            }

            writer.WriteEndObject();
        }

        output.Write("\n"u8);
    }

    /// <summary>Reads one stdout line; returns false with the reason when it is not a protocol message.</summary>
    public static bool TryParseReply(string line, out ActivityReply reply, out string? problem)
    {
        reply = default;
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(line);
        }
        catch (JsonException e)
        {
            problem = $"not JSON ({e.Message})";
            return false;
        }

        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                problem = "not a JSON object";
                return false;
            }

            string? id = null;
            if (root.TryGetProperty("id", out var idElement))
            {
                if (idElement.ValueKind != JsonValueKind.String)
                {
                    problem = "'id' must be a string";
                    return false;
                }

                id = idElement.GetString();
            }

            string? port = null;
            ReadOnlyMemory<byte> data = default;
            if (root.TryGetProperty("port", out var portElement))
            {
                if (portElement.ValueKind != JsonValueKind.String)
                {
                    problem = "'port' must be a string";
                    return false;
                }

                port = portElement.GetString();
                data = root.TryGetProperty("data", out var dataElement) ? Encoding.UTF8.GetBytes(dataElement.GetRawText()) : "null"u8.ToArray();
            }

            var ack = root.TryGetProperty("ack", out var ackElement) && ackElement.ValueKind == JsonValueKind.True;
            string? error = null;
            if (root.TryGetProperty("error", out var errorElement) && errorElement.ValueKind != JsonValueKind.Null)
            {
                error = errorElement.ValueKind == JsonValueKind.String ? errorElement.GetString() : errorElement.GetRawText();
            }

            if (port is null && !ack && error is null)
            {
                problem = "has none of 'port' (an output), 'ack' or 'error'";
                return false;
            }

            if ((ack || error is not null) && id is null)
            {
                problem = "'ack' and 'error' need the 'id' of the message they answer";
                return false;
            }

            reply = new ActivityReply(id, port, data, ack, error);
            problem = null;
            return true;
        }
    }

    private static bool TryWriteJson(Utf8JsonWriter writer, ReadOnlySpan<byte> body)
    {
        if (body.IsEmpty)
        {
            return false;
        }

        try
        {
            using var doc = JsonDocument.Parse(body.ToArray());
            doc.RootElement.WriteTo(writer);
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }
}
