using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Trellis.Cli;

/// <summary>Writes a JSON value as block-style YAML 1.2: objects as <c>key: value</c> lines, arrays as <c>- item</c> lines,
/// strings plain when YAML would read them back as the same string and double-quoted (JSON escapes, which YAML's
/// double-quoted style shares) otherwise. Every YAML 1.2 parser reads the output back as the same JSON value.</summary>
internal static partial class Yaml
{
    public static string Write(JsonElement value)
    {
        var text = new StringBuilder();
        switch (value.ValueKind)
        {
            case JsonValueKind.Object when HasItems(value):
                WriteObject(text, value, 0);
                break;
            case JsonValueKind.Array when HasItems(value):
                WriteArray(text, value, 0);
                break;
            default:
                text.Append(Scalar(value)).Append('\n');
                break;
        }

        return text.ToString();
    }

    private static void WriteObject(StringBuilder text, JsonElement value, int indent, bool firstInline = false)
    {
        var first = true;
        foreach (var property in value.EnumerateObject())
        {
            if (!(first && firstInline))
            {
                text.Append(' ', indent);
            }

            first = false;
            text.Append(Key(property.Name)).Append(':');
            WriteValue(text, property.Value, indent, inArray: false);
        }
    }

    private static void WriteArray(StringBuilder text, JsonElement value, int indent)
    {
        foreach (var item in value.EnumerateArray())
        {
            text.Append(' ', indent).Append('-');
            WriteValue(text, item, indent, inArray: true);
        }
    }

    /// <summary>Writes what follows a <c>key:</c> or a <c>-</c>: a scalar on the same line, or a nested block.</summary>
    private static void WriteValue(StringBuilder text, JsonElement value, int indent, bool inArray)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Object when HasItems(value):
                if (inArray)
                {
                    // "- key: value" with the object's other keys under the first.
                    text.Append(' ');
                    WriteObject(text, value, indent + 2, firstInline: true);
                }
                else
                {
                    text.Append('\n');
                    WriteObject(text, value, indent + 2);
                }

                break;
            case JsonValueKind.Array when HasItems(value):
                text.Append('\n');
                // A sequence under a key may sit at the key's indentation; nested in a sequence it goes deeper.
                WriteArray(text, value, inArray ? indent + 2 : indent);
                break;
            default:
                text.Append(' ').Append(Scalar(value)).Append('\n');
                break;
        }
    }

    private static bool HasItems(JsonElement value) =>
        value.ValueKind == JsonValueKind.Object ? value.EnumerateObject().Any() : value.GetArrayLength() > 0;

    private static string Scalar(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => Text(value.GetString()!),
        JsonValueKind.Number => value.GetRawText(),
        JsonValueKind.True => "true",
        JsonValueKind.False => "false",
        JsonValueKind.Object => "{}",
        JsonValueKind.Array => "[]",
        _ => "null",
    };

    private static string Key(string name) => Text(name);

    /// <summary>A string as YAML: plain when that reads back as this same string, else double-quoted.</summary>
    public static string Text(string s) => IsPlain(s) ? s : JsonSerializer.Serialize(s, Relaxed);

    private static readonly JsonSerializerOptions Relaxed = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static readonly HashSet<string> Reserved = new(StringComparer.OrdinalIgnoreCase)
    {
        "true", "false", "null", "~", "yes", "no", "on", "off", ".nan", ".inf", "-.inf", "+.inf",
    };

    private static bool IsPlain(string s)
    {
        if (s.Length == 0 || Reserved.Contains(s) || s[0] is ' ' || s[^1] is ' ' or ':'
            || "-?:,[]{}#&*!|>'\"%@`".Contains(s[0], StringComparison.Ordinal)
            || double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out _) || NumberOrDate().IsMatch(s)
            || s.Contains(": ", StringComparison.Ordinal) || s.Contains(" #", StringComparison.Ordinal))
        {
            return false;
        }

        foreach (var c in s)
        {
            if (c < ' ' || c == 0x7f || (c >= 0x80 && char.IsControl(c)) || c is '\u2028' or '\u2029' or '\ufeff')
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>What a YAML 1.1 or 1.2 reader could take for a number (1_000, 0x1f, 0o17, 0b101, 1:30, .5) or a date.</summary>
    [System.Text.RegularExpressions.GeneratedRegex(@"^([-+]?([0-9][0-9_]*)?\.?[0-9_]+([eE][-+]?[0-9]+)?|[-+]?0[xXoObB][0-9a-fA-F_]+|[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}.*)$")]
    private static partial System.Text.RegularExpressions.Regex NumberOrDate();
}
