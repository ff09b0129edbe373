using System.Buffers;
using System.Text.Json;
using Google.Protobuf.WellKnownTypes;
using Trellis.Api.Proxy.Internal;
using Trellis.Core.Errors;
using Trellis.Core.Messaging;

namespace Trellis.Api.Grpc.Internal;

/// <summary>Between <c>google.protobuf.Value</c> (how JSON data travels in the gRPC API) and the kernel's UTF-8 JSON
/// payloads, written and read directly: no intermediate JSON text.</summary>
internal static class ProtoJson
{
    /// <summary>A Value as a payload; unset (or a Value of no kind) is JSON null. NaN, infinities and trees deeper than
    /// the API's limit are refused naming <paramref name="field"/>.</summary>
    public static JsonPayload ToPayload(Value? value, string field)
    {
        if (value is null || value.KindCase is Value.KindOneofCase.None or Value.KindOneofCase.NullValue)
        {
            return JsonPayload.Null;
        }

        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { SkipValidation = true }))
        {
            Write(writer, value, field, depth: 0);
        }

        return JsonPayload.FromTrustedUtf8(buffer.WrittenSpan.ToArray());
    }

    /// <summary>A Value as a JSON element (a composition, an app's init data); null when unset.</summary>
    public static JsonElement? ToElement(Value? value, string field) =>
        value is null || value.KindCase is Value.KindOneofCase.None ? null : ToPayload(value, field).ToJsonElement();

    /// <summary>A payload as a Value (numbers become doubles, as in any proto3 JSON reader). Data nested deeper than
    /// protobuf readers accept (100 levels) travels as its JSON text instead.</summary>
    public static Value ToValue(JsonPayload payload) => payload.IsNull ? Value.ForNull() : ToValue(payload.ToJsonElement());

    /// <summary>A JSON element as a Value (see <see cref="ToValue(JsonPayload)"/>).</summary>
    public static Value ToValue(JsonElement element) => TryToValue(element, depth: 0) ?? Value.ForString(element.GetRawText());

    private const int MaxValueDepth = 90;

    private static Value? TryToValue(JsonElement element, int depth)
    {
        if (depth > MaxValueDepth)
        {
            return null;
        }

        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                var obj = new Struct();
                foreach (var property in element.EnumerateObject())
                {
                    if (TryToValue(property.Value, depth + 1) is not { } item)
                    {
                        return null;
                    }

                    obj.Fields[property.Name] = item;
                }

                return Value.ForStruct(obj);
            case JsonValueKind.Array:
                var list = new ListValue();
                foreach (var entry in element.EnumerateArray())
                {
                    if (TryToValue(entry, depth + 1) is not { } item)
                    {
                        return null;
                    }

                    list.Values.Add(item);
                }

                return new Value { ListValue = list };
            case JsonValueKind.String:
                return Value.ForString(element.GetString()!);
            case JsonValueKind.Number:
                return Value.ForNumber(element.GetDouble());
            case JsonValueKind.True:
                return Value.ForBool(true);
            case JsonValueKind.False:
                return Value.ForBool(false);
            default:
                return Value.ForNull();
        }
    }

    private static void Write(Utf8JsonWriter writer, Value value, string field, int depth)
    {
        if (depth > RequestBodies.MaxDepth)
        {
            throw TrellisException.Invalid($"{field} nests too deeply (at most {RequestBodies.MaxDepth} levels)");
        }

        switch (value.KindCase)
        {
            case Value.KindOneofCase.StructValue:
                writer.WriteStartObject();
                foreach (var (name, item) in value.StructValue.Fields)
                {
                    writer.WritePropertyName(name);
                    Write(writer, item, field, depth + 1);
                }

                writer.WriteEndObject();
                break;
            case Value.KindOneofCase.ListValue:
                writer.WriteStartArray();
                foreach (var item in value.ListValue.Values)
                {
                    Write(writer, item, field, depth + 1);
                }

                writer.WriteEndArray();
                break;
            case Value.KindOneofCase.StringValue:
                writer.WriteStringValue(value.StringValue);
                break;
            case Value.KindOneofCase.NumberValue:
                var number = value.NumberValue;
                if (!double.IsFinite(number))
                {
                    throw TrellisException.Invalid($"{field} holds {number}, which JSON cannot carry");
                }

                writer.WriteNumberValue(number);
                break;
            case Value.KindOneofCase.BoolValue:
                writer.WriteBooleanValue(value.BoolValue);
                break;
            default:
                writer.WriteNullValue();
                break;
        }
    }
}
