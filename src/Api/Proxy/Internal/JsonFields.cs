using System.Text;
using System.Text.Json;
using Trellis.Core.Compositions;
using Trellis.Core.Errors;
using Trellis.Core.Topics;

namespace Trellis.Api.Proxy.Internal;

/// <summary>Hand validation of JSON request fields, with messages that name the field, e.g. "slots[2].topic must be a string".</summary>
internal static class JsonFields
{
    public const int MaxPathLength = 1024;

    /// <summary>The fields of an object, refusing unknown and repeated names.</summary>
    public static Dictionary<string, JsonElement> Fields(JsonElement obj, string where, params string[] allowed)
    {
        var fields = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var property in obj.EnumerateObject())
        {
            if (Array.IndexOf(allowed, property.Name) < 0)
            {
                throw TrellisException.Invalid($"{Where(where)}has an unknown field {Quote(property.Name)} (expected {string.Join(", ", allowed)})");
            }

            if (!fields.TryAdd(property.Name, property.Value))
            {
                throw TrellisException.Invalid($"{Where(where)}has the field {Quote(property.Name)} twice");
            }
        }

        return fields;
    }

    public static string Field(string prefix, string name) => prefix.Length == 0 ? name : $"{prefix}.{name}";

    public static string RequireString(Dictionary<string, JsonElement> fields, string name, string field)
    {
        if (!fields.TryGetValue(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            throw TrellisException.Invalid($"{field} is required");
        }

        return value.ValueKind == JsonValueKind.String
            ? value.GetString()!
            : throw TrellisException.Invalid($"{field} must be a string, not {Describe(value)}");
    }

    public static string? OptionalString(Dictionary<string, JsonElement> fields, string name, string field)
    {
        if (!fields.TryGetValue(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return value.ValueKind == JsonValueKind.String
            ? value.GetString()!
            : throw TrellisException.Invalid($"{field} must be a string, not {Describe(value)}");
    }

    public static int RequirePort(Dictionary<string, JsonElement> fields, string name)
    {
        if (!fields.TryGetValue(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            throw TrellisException.Invalid(PortRequired(name));
        }

        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out var port) || port is < 1 or > 65535)
        {
            throw TrellisException.Invalid($"{name} must be an integer between 1 and 65535, not {Describe(value)}");
        }

        return port;
    }

    public static string PortRequired(string name) => $"{name} is required: the TCP port on which the node serves its handlers";

    /// <summary>A timeout in seconds: positive, at least a millisecond, at most <paramref name="max"/>.</summary>
    public static TimeSpan? OptionalTimeout(Dictionary<string, JsonElement> fields, string name, string field, TimeSpan max)
    {
        if (!fields.TryGetValue(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return CheckTimeout(CompositionParser.ParseTimeout(value, field), field, max, Describe(value));
    }

    /// <summary>A timeout given as a number of seconds (gRPC's double fields), with the rules of <see cref="OptionalTimeout"/>.</summary>
    public static TimeSpan Timeout(double seconds, string field, TimeSpan max)
    {
        var described = double.IsFinite(seconds) ? $"the number {seconds.ToString(System.Globalization.CultureInfo.InvariantCulture)}" : $"{seconds}";
        if (!double.IsFinite(seconds) || seconds <= 0)
        {
            throw TrellisException.Invalid($"{field} must be a positive number of seconds, not {described}");
        }

        return CheckTimeout(seconds > max.TotalSeconds ? TimeSpan.MaxValue : TimeSpan.FromSeconds(seconds), field, max, described);
    }

    private static TimeSpan CheckTimeout(TimeSpan timeout, string field, TimeSpan max, string described)
    {
        if (timeout < TimeSpan.FromMilliseconds(1))
        {
            throw TrellisException.Invalid($"{field} must be at least 0.001 seconds, not {described}");
        }

        if (timeout > max)
        {
            throw TrellisException.Invalid(timeout == TimeSpan.MaxValue
                ? $"{field} is longer than the limit of {max.TotalSeconds:0} s (Trellis:Messaging:MaxTimeout)"
                : $"{field} of {timeout.TotalSeconds:0.###} s is longer than the limit of {max.TotalSeconds:0} s (Trellis:Messaging:MaxTimeout)");
        }

        return timeout;
    }

    public static JsonElement.ArrayEnumerator OptionalArray(Dictionary<string, JsonElement> fields, string name, out int count)
    {
        count = 0;
        if (!fields.TryGetValue(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return default;
        }

        if (value.ValueKind != JsonValueKind.Array)
        {
            throw TrellisException.Invalid($"{name} must be an array, not {Describe(value)}");
        }

        count = value.GetArrayLength();
        return value.EnumerateArray();
    }

    /// <summary>Checks a handler or health path: the gateway appends it to http://host:port, so it must be a plain absolute path.</summary>
    public static string CallbackPath(string path, string field)
    {
        if (path.Length == 0 || path[0] != '/')
        {
            throw TrellisException.Invalid($"{field} must be an absolute path starting with '/', not {Quote(path)}");
        }

        if (path.Length > MaxPathLength)
        {
            throw TrellisException.Invalid($"{field} is {path.Length} characters long; the limit is {MaxPathLength}");
        }

        if (path.StartsWith("//", StringComparison.Ordinal))
        {
            throw TrellisException.Invalid($"{field} may not start with '//' (it would name a host)");
        }

        foreach (var bad in (ReadOnlySpan<string>)["://", "..", "%2e", "%2E", "%5c", "%5C"])
        {
            if (path.Contains(bad, StringComparison.Ordinal))
            {
                throw TrellisException.Invalid($"{field} may not contain '{bad}' (paths are plain absolute paths on the node)");
            }
        }

        foreach (var c in path)
        {
            if (c == '\\')
            {
                throw TrellisException.Invalid($"{field} may not contain a backslash");
            }

            if (char.IsControl(c) || char.IsWhiteSpace(c) || c == '#' || c > '~')
            {
                throw TrellisException.Invalid($"{field} may not contain whitespace, control or non-ASCII characters or '#' (found {Quote(c.ToString())}); percent-encode them");
            }
        }

        return path;
    }

    public static void Topic(string topic, string field, int maxLength, bool pattern)
    {
        if (pattern)
        {
            TopicRules.ValidatePattern(topic, maxLength, field);
        }
        else
        {
            TopicRules.ValidateTopic(topic, maxLength, field);
        }
    }

    public static string Describe(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => element.GetRawText().Length <= 40 ? $"the number {element.GetRawText()}" : "a very long number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => "nothing",
    };

    /// <summary>Quotes client text for an error message, escaped and cut short so nothing odd is echoed back.</summary>
    public static string Quote(string text)
    {
        var sb = new StringBuilder(Math.Min(text.Length, 80) + 2).Append('\'');
        foreach (var c in text)
        {
            if (sb.Length > 80)
            {
                sb.Append('…');
                break;
            }

            if (char.IsControl(c) || char.IsSurrogate(c))
            {
                sb.Append($"\\u{(int)c:x4}");
            }
            else
            {
                sb.Append(c);
            }
        }

        return sb.Append('\'').ToString();
    }

    private static string Where(string where) => where.Length == 0 ? "request body " : $"{where} ";
}
