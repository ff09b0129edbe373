using System.CommandLine;
using System.Text.Json;

namespace Trellis.Cli;

/// <summary><c>-o json|yaml|table</c> and how a verb's answer is printed in each. Verbs that list or show things default
/// to table, verbs that answer with a message or stream events to json (one JSON document per line). A table of a
/// verb without a table of its own is built from the JSON: an array of objects gives a column per field, an object a
/// FIELD/VALUE pair per line; nested values are written as compact JSON.</summary>
internal static class OutputFormat
{
    public const string Json = "json";
    public const string YamlFormat = "yaml";
    public const string Table = "table";

    public static Option<string> Create(string defaultFormat)
    {
        var option = new Option<string>("--output", "-o")
        {
            Description = $"json, yaml or table (default {defaultFormat})",
            DefaultValueFactory = _ => defaultFormat,
        };
        option.AcceptOnlyFromAmong(Json, YamlFormat, Table);
        return option;
    }

    /// <summary>Prints <paramref name="value"/> as asked; <paramref name="table"/> gives the rows (header first) of a table
    /// of the verb's own, else the generic one.</summary>
    public static async Task WriteAsync(ParseResult parse, Option<string> format, JsonElement value, Func<JsonElement, List<string[]>>? table = null)
    {
        var output = parse.InvocationConfiguration.Output;
        switch (parse.GetValue(format))
        {
            case YamlFormat:
                await output.WriteAsync(Yaml.Write(value));
                break;
            case Table:
                await Tables.WriteAsync(output, table is null ? Tables.FromJson(value) : table(value));
                break;
            default:
                await output.WriteLineAsync(value.ValueKind == JsonValueKind.Undefined ? "null" : value.GetRawText());
                break;
        }
    }

    /// <summary>Prints one event of a stream: a JSON line, a YAML document (<c>---</c> first) or a table row without header.</summary>
    public static async Task WriteEventAsync(ParseResult parse, Option<string> format, JsonElement value, Func<JsonElement, string[]> row)
    {
        var output = parse.InvocationConfiguration.Output;
        switch (parse.GetValue(format))
        {
            case YamlFormat:
                await output.WriteAsync("---\n" + Yaml.Write(value));
                break;
            case Table:
                await output.WriteLineAsync(string.Join("  ", row(value)));
                break;
            default:
                await output.WriteLineAsync(value.GetRawText());
                break;
        }

        await output.FlushAsync();
    }

    /// <summary>Whether the answer goes out as JSON or YAML (the verb prints its own table otherwise).</summary>
    public static async Task<bool> WriteDataAsync(ParseResult parse, Option<string> format, JsonElement value)
    {
        if (parse.GetValue(format) == Table)
        {
            return false;
        }

        await WriteAsync(parse, format, value);
        return true;
    }
}
