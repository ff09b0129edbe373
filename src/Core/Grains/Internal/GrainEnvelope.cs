using System.Buffers;
using System.Text.Json;
using Trellis.Core.Messaging;

namespace Trellis.Core.Grains.Internal;

/// <summary>The body of a grain message on a shard queue: <c>{"grain":"type/key","method":"...","data":...}</c>.</summary>
internal static class GrainEnvelope
{
    public static JsonPayload Write(GrainId grain, string method, JsonPayload data)
    {
        var buffer = new ArrayBufferWriter<byte>(64 + data.Length);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("grain"u8, grain.ToString());
            writer.WriteString("method"u8, method);
            writer.WritePropertyName("data"u8);
            data.WriteTo(writer);
            writer.WriteEndObject();
        }

        return JsonPayload.FromTrustedUtf8(buffer.WrittenMemory);
    }

    public static bool TryRead(JsonPayload payload, out GrainId grain, out string method, out JsonPayload data, out string error)
    {
        grain = default;
        method = "";
        data = JsonPayload.Null;
        string? grainText = null;
        try
        {
            var reader = new Utf8JsonReader(payload.Utf8.Span);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                error = "a grain message must be a JSON object";
                return false;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("grain"u8))
                {
                    reader.Read();
                    grainText = reader.GetString();
                }
                else if (reader.ValueTextEquals("method"u8))
                {
                    reader.Read();
                    method = reader.GetString() ?? "";
                }
                else if (reader.ValueTextEquals("data"u8))
                {
                    reader.Read();
                    var start = (int)reader.TokenStartIndex;
                    reader.Skip();
                    data = JsonPayload.FromTrustedUtf8(payload.Utf8.Slice(start, (int)reader.BytesConsumed - start));
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }

            grain = GrainId.Parse(grainText ?? throw new FormatException("a grain message needs 'grain'"));
            if (method.Length is 0 or > 200)
            {
                error = "a grain message needs a 'method' of 1 to 200 characters";
                return false;
            }

            error = "";
            return true;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or Errors.TrellisException)
        {
            error = $"bad grain message: {e.Message}";
            return false;
        }
    }
}
