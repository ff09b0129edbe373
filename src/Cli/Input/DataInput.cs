using System.CommandLine;
using System.Text.Json;

namespace Trellis.Cli;

/// <summary>JSON given on the command line as curl takes it: the text itself, <c>@FILE</c> for a file's content, or
/// <c>@-</c> for stdin. What is not JSON is a usage error (exit 2) naming the option and the problem.</summary>
internal static class DataInput
{
    public static Option<string?> Option(string description) => new("--data", "-d") { Description = $"{description}: JSON, @FILE or @- for stdin" };

    /// <summary>The JSON text of <paramref name="option"/>, or null when it was not given.</summary>
    public static async Task<string?> ReadAsync(ParseResult parse, Option<string?> option, CancellationToken cancellationToken) =>
        parse.GetValue(option) is { } value ? await ReadAsync(value, option.Name, cancellationToken) : null;

    /// <summary>The JSON text of <paramref name="value"/> (text, @FILE or @-); <paramref name="what"/> names it in errors.</summary>
    public static async Task<string> ReadAsync(string value, string what, CancellationToken cancellationToken)
    {
        string text;
        if (value == "@-")
        {
            text = await CliContext.Current.Input.ReadToEndAsync(cancellationToken);
        }
        else if (value.StartsWith('@'))
        {
            try
            {
                text = await File.ReadAllTextAsync(value[1..], cancellationToken);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new CliException(CliApp.Usage, $"{what}: cannot read {value[1..]}: {e.Message}");
            }
        }
        else
        {
            text = value;
        }

        try
        {
            using var _ = JsonDocument.Parse(text);
        }
        catch (JsonException e)
        {
            throw new CliException(CliApp.Usage, $"{what} is not valid JSON{(value.StartsWith('@') ? $" ({(value == "@-" ? "stdin" : value[1..])})" : "")}: {e.Message}");
        }

        return text;
    }
}
