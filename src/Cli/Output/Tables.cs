using System.Text.Json;

namespace Trellis.Cli;

/// <summary>Plain-text tables: columns padded to their widest cell, two spaces apart, the header in capitals.</summary>
internal static class Tables
{
    public static async Task WriteAsync(TextWriter output, List<string[]> rows)
    {
        if (rows.Count == 0)
        {
            return;
        }

        var widths = Enumerable.Range(0, rows[0].Length).Select(i => rows.Max(r => i < r.Length ? r[i].Length : 0)).ToArray();
        foreach (var row in rows)
        {
            await output.WriteLineAsync(string.Join("  ", row.Select((cell, i) => i == row.Length - 1 ? cell : cell.PadRight(widths[i]))).TrimEnd());
        }
    }

    /// <summary>The generic table of a JSON value: a column per field of an array of objects (in order of first
    /// appearance), FIELD/VALUE lines for an object, VALUE lines for anything else.</summary>
    public static List<string[]> FromJson(JsonElement value)
    {
        if (value.ValueKind == JsonValueKind.Array && value.EnumerateArray().All(static e => e.ValueKind == JsonValueKind.Object) && value.GetArrayLength() > 0)
        {
            var columns = new List<string>();
            foreach (var item in value.EnumerateArray())
            {
                columns.AddRange(item.EnumerateObject().Select(static p => p.Name).Where(n => !columns.Contains(n)).ToList());
            }

            var rows = new List<string[]> { columns.Select(Header).ToArray() };
            rows.AddRange(value.EnumerateArray().Select(item => columns.Select(c => item.TryGetProperty(c, out var v) ? Cell(v) : "-").ToArray()));
            return rows;
        }

        if (value.ValueKind == JsonValueKind.Object)
        {
            var rows = new List<string[]> { new[] { "FIELD", "VALUE" } };
            rows.AddRange(value.EnumerateObject().Select(static p => new[] { p.Name, Cell(p.Value) }));
            return rows;
        }

        var lines = new List<string[]> { new[] { "VALUE" } };
        lines.AddRange(value.ValueKind == JsonValueKind.Array ? value.EnumerateArray().Select(static e => new[] { Cell(e) }) : [[Cell(value)]]);
        return lines;
    }

    /// <summary>A column name in capitals, words split at camelCase and snake_case: lastSeen → LAST SEEN.</summary>
    public static string Header(string name)
    {
        var text = new System.Text.StringBuilder();
        for (var i = 0; i < name.Length; i++)
        {
            var c = name[i];
            if (c is '_' or '-')
            {
                text.Append(' ');
            }
            else
            {
                if (i > 0 && char.IsUpper(c) && char.IsLower(name[i - 1]))
                {
                    text.Append(' ');
                }

                text.Append(char.ToUpperInvariant(c));
            }
        }

        return text.ToString();
    }

    /// <summary>A value as one cell: strings as they are, "-" for null or empty, nested values as compact JSON.</summary>
    public static string Cell(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => value.GetString() is { Length: > 0 } s ? s.ReplaceLineEndings(" ") : "-",
        JsonValueKind.Null or JsonValueKind.Undefined => "-",
        JsonValueKind.Array when value.GetArrayLength() == 0 => "-",
        _ => value.GetRawText(),
    };

    /// <summary>A field of an object as one cell ("-" when it is missing).</summary>
    public static string Field(JsonElement value, string name) =>
        value.ValueKind == JsonValueKind.Object && value.TryGetProperty(name, out var v) ? Cell(v) : "-";
}
