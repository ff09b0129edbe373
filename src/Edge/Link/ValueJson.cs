using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Google.Protobuf.WellKnownTypes;

namespace Trellis.Edge.Link;

/// <summary>Between JSON (the device's HTTP bodies) and <c>google.protobuf.Value</c> (how data travels on the link),
/// without reflection so the agent stays trimmable.</summary>
public static class ValueJson
{
    /// <summary>UTF-8 JSON as a Value; empty is null. Throws <see cref="JsonException"/> when it is not JSON.</summary>
    public static Value FromUtf8(ReadOnlySpan<byte> json) => json.IsEmpty ? Value.ForNull() : FromNode(JsonNode.Parse(json));

    /// <summary>UTF-8 text as a Value: its JSON when it parses, else the text as a string.</summary>
    public static Value FromBody(byte[] body)
    {
        if (body.Length == 0)
        {
            return Value.ForNull();
        }

        try
        {
            return FromUtf8(body);
        }
        catch (JsonException)
        {
            return Value.ForString(Encoding.UTF8.GetString(body));
        }
    }

    public static Value FromNode(JsonNode? node)
    {
        switch (node)
        {
            case null:
                return Value.ForNull();
            case JsonObject obj:
                var fields = new Struct();
                foreach (var (name, item) in obj)
                {
                    fields.Fields[name] = FromNode(item);
                }

                return Value.ForStruct(fields);
            case JsonArray array:
                var list = new ListValue();
                foreach (var item in array)
                {
                    list.Values.Add(FromNode(item));
                }

                return new Value { ListValue = list };
            default:
                var value = node.AsValue();
                return value.GetValueKind() switch
                {
                    JsonValueKind.String => Value.ForString(value.GetValue<string>()),
                    JsonValueKind.True => Value.ForBool(true),
                    JsonValueKind.False => Value.ForBool(false),
                    JsonValueKind.Number => Value.ForNumber(value.GetValue<double>()),
                    _ => Value.ForNull(),
                };
        }
    }

    public static JsonNode? ToNode(Value? value)
    {
        switch (value?.KindCase)
        {
            case null or Value.KindOneofCase.None or Value.KindOneofCase.NullValue:
                return null;
            case Value.KindOneofCase.BoolValue:
                return JsonValue.Create(value.BoolValue);
            case Value.KindOneofCase.NumberValue:
                var number = value.NumberValue;
                return double.IsFinite(number) && number == Math.Floor(number) && Math.Abs(number) < 1e15
                    ? JsonValue.Create((long)number)
                    : double.IsFinite(number) ? JsonValue.Create(number) : JsonValue.Create(number.ToString(System.Globalization.CultureInfo.InvariantCulture));
            case Value.KindOneofCase.StringValue:
                return JsonValue.Create(value.StringValue);
            case Value.KindOneofCase.StructValue:
                var obj = new JsonObject();
                foreach (var (name, item) in value.StructValue.Fields)
                {
                    obj[name] = ToNode(item);
                }

                return obj;
            default:
                var array = new JsonArray();
                foreach (var item in value.ListValue.Values)
                {
                    array.Add(ToNode(item));
                }

                return array;
        }
    }

    /// <summary>A Value as UTF-8 JSON (<c>null</c> when unset).</summary>
    public static byte[] ToUtf8(Value? value) => Encoding.UTF8.GetBytes(ToNode(value)?.ToJsonString() ?? "null");
}
