using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Trellis.Flows.Graphs.Internal;

/// <summary>JSON text exactly as JavaScript's <c>JSON.stringify(value, null, 2)</c> (or without indentation) writes it:
/// JS number formatting, JS string escaping and JS key order (array-index keys first, ascending).</summary>
internal sealed class JsJsonWriter(StringBuilder text, bool indented)
{
    private readonly StringBuilder _text = text;
    private readonly bool _indented = indented;
    private readonly Stack<bool> _empty = new();

    public void BeginObject() => Begin('{');

    public void EndObject() => End('}');

    public void BeginArray() => Begin('[');

    public void EndArray() => End(']');

    /// <summary>Starts a member of the current object; its value follows.</summary>
    public void Name(string name)
    {
        Separate();
        WriteString(_text, name);
        _text.Append(_indented ? ": " : ":");
    }

    /// <summary>Starts an element of the current array; its value follows.</summary>
    public void Element() => Separate();

    public void String(string value) => WriteString(_text, value);

    public void Number(double value) => _text.Append(double.IsFinite(value) ? JsNumber.Format(value) : "null");

    public void Bool(bool value) => _text.Append(value ? "true" : "false");

    public void Null() => _text.Append("null");

    public void Node(JsonNode? node)
    {
        switch (node)
        {
            case null:
                Null();
                break;
            case JsonObject o:
                BeginObject();
                var keys = new string[o.Count];
                var values = new JsonNode?[o.Count];
                var i = 0;
                foreach (var (key, value) in o)
                {
                    keys[i] = key;
                    values[i++] = value;
                }

                foreach (var j in JsKeys.Order(keys))
                {
                    Name(keys[j]);
                    Node(values[j]);
                }

                EndObject();
                break;
            case JsonArray a:
                BeginArray();
                foreach (var item in a)
                {
                    Element();
                    Node(item);
                }

                EndArray();
                break;
            case JsonValue v:
                Value(v);
                break;
        }
    }

    private void Value(JsonValue v)
    {
        switch (v.GetValueKind())
        {
            case JsonValueKind.String:
                String(v.GetValue<string>());
                break;
            case JsonValueKind.True:
                Bool(true);
                break;
            case JsonValueKind.False:
                Bool(false);
                break;
            case JsonValueKind.Number:
                Number(v.TryGetValue(out double d) ? d : double.Parse(v.ToJsonString(), NumberStyles.Float, CultureInfo.InvariantCulture));
                break;
            default:
                Null();
                break;
        }
    }

    private void Begin(char bracket)
    {
        _text.Append(bracket);
        _empty.Push(true);
    }

    private void End(char bracket)
    {
        if (!_empty.Pop() && _indented)
        {
            _text.Append('\n').Append(' ', _empty.Count * 2);
        }

        _text.Append(bracket);
    }

    private void Separate()
    {
        var first = _empty.Pop();
        _empty.Push(false);
        if (!first)
        {
            _text.Append(',');
        }

        if (_indented)
        {
            _text.Append('\n').Append(' ', _empty.Count * 2);
        }
    }

    /// <summary>A string literal as JSON.stringify writes it: control characters and lone surrogates escaped,
    /// everything else (non-ASCII included) as is.</summary>
    public static void WriteString(StringBuilder text, string value)
    {
        text.Append('"');
        var run = 0;
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            string? escape = c switch
            {
                '"' => "\\\"",
                '\\' => "\\\\",
                '\b' => "\\b",
                '\f' => "\\f",
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                < ' ' => null,
                _ when char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]) => "",
                _ when char.IsSurrogate(c) => null,
                _ => "",
            };
            if (escape is { Length: 0 })
            {
                if (char.IsHighSurrogate(c))
                {
                    i++;
                }

                continue;
            }

            text.Append(value, run, i - run);
            if (escape is null)
            {
                text.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
            }
            else
            {
                text.Append(escape);
            }

            run = i + 1;
        }

        text.Append(value, run, value.Length - run).Append('"');
    }
}

/// <summary>Key order of a JavaScript object: integer-like keys (canonical array indexes) first in ascending order,
/// then the others in insertion order.</summary>
internal static class JsKeys
{
    public static IEnumerable<int> Order(IReadOnlyList<string> keys)
    {
        List<(uint Index, int Position)>? indexes = null;
        for (var i = 0; i < keys.Count; i++)
        {
            if (IsArrayIndex(keys[i], out var index))
            {
                (indexes ??= []).Add((index, i));
            }
        }

        if (indexes is null)
        {
            for (var i = 0; i < keys.Count; i++)
            {
                yield return i;
            }

            yield break;
        }

        indexes.Sort(static (a, b) => a.Index.CompareTo(b.Index));
        foreach (var (_, position) in indexes)
        {
            yield return position;
        }

        for (var i = 0; i < keys.Count; i++)
        {
            if (!IsArrayIndex(keys[i], out _))
            {
                yield return i;
            }
        }
    }

    /// <summary>"0", "1", "42" … up to 2^32 - 2, without leading zeros.</summary>
    public static bool IsArrayIndex(string key, out uint index)
    {
        index = 0;
        if (key.Length is 0 or > 10 || (key.Length > 1 && key[0] == '0'))
        {
            return false;
        }

        ulong value = 0;
        foreach (var c in key)
        {
            if (c is < '0' or > '9')
            {
                return false;
            }

            value = (value * 10) + (ulong)(c - '0');
        }

        if (value >= uint.MaxValue)
        {
            return false;
        }

        index = (uint)value;
        return true;
    }
}

/// <summary>JavaScript's Number-to-string conversion (ECMA-262 Number::toString) and <c>String(value)</c> of JSON data.</summary>
internal static class JsNumber
{
    public static string Format(double value)
    {
        if (double.IsNaN(value))
        {
            return "NaN";
        }

        if (double.IsInfinity(value))
        {
            return value > 0 ? "Infinity" : "-Infinity";
        }

        if (value == 0)
        {
            return "0";
        }

        // .NET's round-trip form holds the shortest digits that read back to the same double, as JS's does.
        var r = Math.Abs(value).ToString("R", CultureInfo.InvariantCulture);
        var e = r.IndexOfAny(['E', 'e']);
        var exponent = e < 0 ? 0 : int.Parse(r.AsSpan(e + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        var mantissa = e < 0 ? r : r[..e];
        var dot = mantissa.IndexOf('.');
        var digits = dot < 0 ? mantissa : string.Concat(mantissa.AsSpan(0, dot), mantissa.AsSpan(dot + 1));
        var point = (dot < 0 ? mantissa.Length : dot) + exponent;
        var lead = 0;
        while (lead < digits.Length - 1 && digits[lead] == '0')
        {
            lead++;
        }

        digits = digits[lead..].TrimEnd('0');
        point -= lead;
        int k = digits.Length, n = point;
        var s = new StringBuilder(32);
        if (value < 0)
        {
            s.Append('-');
        }

        if (k <= n && n <= 21)
        {
            s.Append(digits).Append('0', n - k);
        }
        else if (0 < n && n <= 21)
        {
            s.Append(digits, 0, n).Append('.').Append(digits, n, k - n);
        }
        else if (-6 < n && n <= 0)
        {
            s.Append("0.").Append('0', -n).Append(digits);
        }
        else
        {
            var exp = n - 1;
            s.Append(digits[0]);
            if (k > 1)
            {
                s.Append('.').Append(digits, 1, k - 1);
            }

            s.Append('e').Append(exp < 0 ? '-' : '+').Append(Math.Abs(exp).ToString(CultureInfo.InvariantCulture));
        }

        return s.ToString();
    }

    /// <summary>What <c>String(value)</c> gives in JavaScript for a value JSON.parse could produce.</summary>
    public static string ToJsString(JsonNode? node) => node switch
    {
        null => "null",
        JsonObject => "[object Object]",
        JsonArray a => string.Join(",", a.Select(static item => item is null ? "" : ToJsString(item))),
        JsonValue v => v.GetValueKind() switch
        {
            JsonValueKind.String => v.GetValue<string>(),
            JsonValueKind.True => "true",
            JsonValueKind.False => "false",
            JsonValueKind.Number => Format(v.TryGetValue(out double d) ? d : double.Parse(v.ToJsonString(), NumberStyles.Float, CultureInfo.InvariantCulture)),
            _ => "null",
        },
        _ => "",
    };

    /// <summary>JavaScript truthiness of a JSON value.</summary>
    public static bool IsTruthy(JsonNode? node) => node switch
    {
        null => false,
        JsonValue v => v.GetValueKind() switch
        {
            JsonValueKind.String => v.GetValue<string>().Length > 0,
            JsonValueKind.False or JsonValueKind.Null => false,
            JsonValueKind.Number => v.TryGetValue(out double d) ? d != 0 && !double.IsNaN(d) : true,
            _ => true,
        },
        _ => true,
    };
}
