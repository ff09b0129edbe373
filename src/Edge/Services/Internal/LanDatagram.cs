using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Trellis.Edge.Services.Internal;

/// <summary>A service entry of a LAN answer.</summary>
internal readonly record struct LanEntry(string Publisher, string Service, string Url);

/// <summary>A LAN discovery datagram: a broadcast query or one part of an owner's unicast answer.</summary>
/// <remarks>Format, version 1 (UTF-8 JSON, at most <see cref="LanDatagram.MaxBytes"/> bytes):
/// query <c>{"trellis-lan":1,"kind":"query","id":ID,"from":PROVIDER,"publisher":PATTERN,"service":PATTERN}</c>;
/// answer <c>{"trellis-lan":1,"kind":"found","id":ID,"provider":PROVIDER,"part":I,"parts":N,"services":[{"publisher","service","url"}]}</c>.
/// The id ties the answers to their query; an answer too large for one datagram is split into parts 0..N-1.</remarks>
internal sealed record LanDatagram(string Kind, string Id, string Provider, string Publisher, string Service, int Part, int Parts, IReadOnlyList<LanEntry> Entries)
{
    public const int Version = 1;
    public const int MaxBytes = 8 * 1024;
    public const int MaxParts = 1000;
    public const string Query = "query";
    public const string Found = "found";

    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static byte[] EncodeQuery(string id, string from, string publisher, string service)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var json = new Utf8JsonWriter(buffer, WriterOptions))
        {
            json.WriteStartObject();
            json.WriteNumber("trellis-lan", Version);
            json.WriteString("kind", Query);
            json.WriteString("id", id);
            json.WriteString("from", from);
            json.WriteString("publisher", publisher);
            json.WriteString("service", service);
            json.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>The answer to query <paramref name="id"/> in as many datagrams of at most <see cref="MaxBytes"/> as it
    /// takes.</summary>
    public static List<byte[]> EncodeFound(string id, string provider, IReadOnlyList<LanEntry> entries)
    {
        var encoded = new List<byte[]>(entries.Count);
        foreach (var entry in entries)
        {
            var buffer = new ArrayBufferWriter<byte>(128);
            using (var json = new Utf8JsonWriter(buffer, WriterOptions))
            {
                json.WriteStartObject();
                json.WriteString("publisher", entry.Publisher);
                json.WriteString("service", entry.Service);
                json.WriteString("url", entry.Url);
                json.WriteEndObject();
            }

            encoded.Add(buffer.WrittenSpan.ToArray());
        }

        var budget = MaxBytes - EncodePart(id, provider, 9999, 9999, []).Length;
        var groups = new List<List<byte[]>> { new() };
        var used = 0;
        foreach (var entry in encoded)
        {
            if (used + entry.Length + 1 > budget && groups[^1].Count > 0)
            {
                groups.Add([]);
                used = 0;
            }

            groups[^1].Add(entry);
            used += entry.Length + 1;
        }

        var datagrams = new List<byte[]>(groups.Count);
        for (var i = 0; i < groups.Count; i++)
        {
            datagrams.Add(EncodePart(id, provider, i, groups.Count, groups[i]));
        }

        return datagrams;
    }

    private static byte[] EncodePart(string id, string provider, int part, int parts, List<byte[]> entries)
    {
        var buffer = new ArrayBufferWriter<byte>(MaxBytes);
        using (var json = new Utf8JsonWriter(buffer, WriterOptions))
        {
            json.WriteStartObject();
            json.WriteNumber("trellis-lan", Version);
            json.WriteString("kind", Found);
            json.WriteString("id", id);
            json.WriteString("provider", provider);
            json.WriteNumber("part", part);
            json.WriteNumber("parts", parts);
            json.WriteStartArray("services");
            foreach (var entry in entries)
            {
                json.WriteRawValue(entry, skipInputValidation: true);
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>The datagram in <paramref name="data"/>, or null with <paramref name="problem"/> saying why it is not one.</summary>
    public static LanDatagram? TryParse(ReadOnlySpan<byte> data, out string? problem)
    {
        problem = null;
        if (data.Length > MaxBytes)
        {
            problem = $"{data.Length} bytes is more than {MaxBytes}";
            return null;
        }

        try
        {
            using var document = JsonDocument.Parse(data.ToArray());
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                problem = "not a JSON object";
                return null;
            }

            if (!root.TryGetProperty("trellis-lan", out var version) || version.ValueKind != JsonValueKind.Number || !version.TryGetInt32(out var v) || v != Version)
            {
                problem = "no trellis-lan version 1";
                return null;
            }

            var kind = String(root, "kind");
            var id = String(root, "id");
            if (id is not { Length: > 0 and <= 64 })
            {
                problem = "id is missing or longer than 64 characters";
                return null;
            }

            if (kind == Query)
            {
                var from = String(root, "from");
                var publisher = String(root, "publisher");
                var service = String(root, "service");
                problem = ProviderProblem(from, "from")
                    ?? ServiceNames.Problem(publisher, "publisher", pattern: true)
                    ?? ServiceNames.Problem(service, "service", pattern: true);
                return problem is null ? new LanDatagram(Query, id, from!, publisher!, service!, 0, 1, []) : null;
            }

            if (kind == Found)
            {
                var provider = String(root, "provider");
                if ((problem = ProviderProblem(provider, "provider")) is not null)
                {
                    return null;
                }

                if (!root.TryGetProperty("part", out var partElement) || !partElement.TryGetInt32(out var part)
                    || !root.TryGetProperty("parts", out var partsElement) || !partsElement.TryGetInt32(out var parts)
                    || parts is < 1 or > MaxParts || part < 0 || part >= parts)
                {
                    problem = "part/parts are not 0 <= part < parts <= 1000";
                    return null;
                }

                if (!root.TryGetProperty("services", out var services) || services.ValueKind != JsonValueKind.Array)
                {
                    problem = "services is not an array";
                    return null;
                }

                var entries = new List<LanEntry>(services.GetArrayLength());
                foreach (var item in services.EnumerateArray())
                {
                    if (item.ValueKind != JsonValueKind.Object)
                    {
                        problem = "a services entry is not an object";
                        return null;
                    }

                    var entry = new LanEntry(String(item, "publisher")!, String(item, "service")!, String(item, "url")!);
                    if ((problem = ServiceTable.Problem(new LocalService(entry.Publisher, entry.Service, entry.Url, Scope.Lan))) is not null)
                    {
                        return null;
                    }

                    entries.Add(entry);
                }

                return new LanDatagram(Found, id, provider!, "", "", part, parts, entries);
            }

            problem = "kind is neither query nor found";
            return null;
        }
        catch (JsonException e)
        {
            problem = "not JSON: " + e.Message;
            return null;
        }
    }

    private static string? ProviderProblem(string? provider, string field) =>
        provider is not { Length: > 0 and <= 128 } || provider.Any(char.IsControl) ? $"{field} is missing, too long or has control characters" : null;

    private static string? String(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}
