using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Trellis.Core.Errors;

namespace Trellis.Core.Messaging;

/// <summary>A message body: UTF-8 JSON bytes, passed through the kernel without re-serialising.</summary>
/// <remarks>An empty payload stands for JSON <c>null</c>. Bytes are validated where they enter the
/// cluster (the gateway, <see cref="Parse(ReadOnlyMemory{byte})"/>); the kernel trusts them after that.</remarks>
[JsonConverter(typeof(JsonPayloadConverter))]
public readonly struct JsonPayload : IEquatable<JsonPayload>
{
    private static readonly byte[] NullLiteral = "null"u8.ToArray();

    private JsonPayload(ReadOnlyMemory<byte> utf8) => Utf8 = utf8;

    /// <summary>JSON null.</summary>
    public static JsonPayload Null => default;

    /// <summary>The UTF-8 JSON bytes; empty for null.</summary>
    public ReadOnlyMemory<byte> Utf8 { get; }

    public bool IsNull => Utf8.IsEmpty || Utf8.Span.SequenceEqual(NullLiteral);

    public int Length => Utf8.Length;

    /// <summary>Wraps bytes already known to be valid JSON (no check).</summary>
    public static JsonPayload FromTrustedUtf8(ReadOnlyMemory<byte> utf8) => new(utf8);

    /// <summary>Validates and wraps UTF-8 JSON; throws <see cref="TrellisException"/> naming the problem.</summary>
    public static JsonPayload Parse(ReadOnlyMemory<byte> utf8, string what = "message")
    {
        if (utf8.IsEmpty)
        {
            return Null;
        }

        try
        {
            var reader = new Utf8JsonReader(utf8.Span, new JsonReaderOptions { MaxDepth = 128 });
            while (reader.Read())
            {
            }
        }
        catch (JsonException e)
        {
            throw TrellisException.Invalid($"{what} is not valid JSON: {e.Message}");
        }

        return new JsonPayload(utf8);
    }

    public static JsonPayload Parse(string json, string what = "message") => Parse(Encoding.UTF8.GetBytes(json), what);

    public static JsonPayload From<T>(T value, JsonSerializerOptions? options = null) =>
        new(JsonSerializer.SerializeToUtf8Bytes(value, options ?? JsonDefaults.Options));

    public static JsonPayload From(JsonElement element) =>
        element.ValueKind == JsonValueKind.Undefined ? Null : new(JsonSerializer.SerializeToUtf8Bytes(element));

    public T? As<T>(JsonSerializerOptions? options = null) =>
        IsNull ? default : JsonSerializer.Deserialize<T>(Utf8.Span, options ?? JsonDefaults.Options);

    public JsonElement ToJsonElement()
    {
        if (Utf8.IsEmpty)
        {
            return JsonDocument.Parse(NullLiteral).RootElement.Clone();
        }

        using var doc = JsonDocument.Parse(Utf8);
        return doc.RootElement.Clone();
    }

    /// <summary>Writes the payload as a JSON value (null when empty).</summary>
    public void WriteTo(Utf8JsonWriter writer)
    {
        if (Utf8.IsEmpty)
        {
            writer.WriteNullValue();
        }
        else
        {
            writer.WriteRawValue(Utf8.Span, skipInputValidation: true);
        }
    }

    public override string ToString() => Utf8.IsEmpty ? "null" : Encoding.UTF8.GetString(Utf8.Span);

    public bool Equals(JsonPayload other) => Utf8.Span.SequenceEqual(other.Utf8.Span);

    public override bool Equals(object? obj) => obj is JsonPayload other && Equals(other);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.AddBytes(Utf8.Span);
        return hash.ToHashCode();
    }

    public static bool operator ==(JsonPayload left, JsonPayload right) => left.Equals(right);

    public static bool operator !=(JsonPayload left, JsonPayload right) => !left.Equals(right);
}

/// <summary>The JSON settings Trellis uses for its own documents.</summary>
public static class JsonDefaults
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web);
}

/// <summary>Writes a <see cref="JsonPayload"/> as the JSON value it holds, and reads any JSON value into one.</summary>
public sealed class JsonPayloadConverter : JsonConverter<JsonPayload>
{
    public override bool HandleNull => true;

    public override JsonPayload Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        using var doc = JsonDocument.ParseValue(ref reader);
        return doc.RootElement.ValueKind == JsonValueKind.Null ? JsonPayload.Null : JsonPayload.From(doc.RootElement);
    }

    public override void Write(Utf8JsonWriter writer, JsonPayload value, JsonSerializerOptions options) => value.WriteTo(writer);
}
