using System.Text.Json.Nodes;
using Trellis.Edge.Local;

namespace Trellis.Edge.Jobs;

/// <summary>What <c>run</c> asks for: the command, and how the job lives (restarts, auto-remove, group, files).</summary>
/// <param name="Files">Relative path → content, written into the job's working directory before it starts.</param>
public sealed record JobSpec(
    string? Name,
    IReadOnlyList<string> Command,
    int Restart = 0,
    bool Remove = false,
    string? Group = null,
    IReadOnlyDictionary<string, byte[]>? Files = null)
{
    /// <summary>Reads <c>{name?, command: [exe, args...], restart?, rm?, group?, files?: {path: base64}}</c>; a 400
    /// <see cref="LocalApiException"/> naming the field when something is wrong.</summary>
    public static JobSpec FromJson(JsonNode? body)
    {
        if (body is not JsonObject json)
        {
            throw new LocalApiException(400, "the body must be a JSON object {name?, command: [exe, args...], restart?, rm?, group?, files?}");
        }

        var name = OptionalString(json, "name");
        if (json["command"] is not JsonArray array || array.Count == 0)
        {
            throw new LocalApiException(400, "command: expected a non-empty array [exe, args...]");
        }

        var command = new List<string>(array.Count);
        foreach (var item in array)
        {
            if (item is not JsonValue value || !value.TryGetValue<string>(out var text))
            {
                throw new LocalApiException(400, "command: every element must be a string");
            }

            command.Add(text);
        }

        var restart = 0;
        if (json["restart"] is { } restartNode)
        {
            if (restartNode is not JsonValue restartValue || !restartValue.TryGetValue<int>(out restart) || restart < 0)
            {
                throw new LocalApiException(400, "restart: expected a whole number ≥ 0");
            }
        }

        var remove = false;
        if (json["rm"] is { } rmNode && (rmNode is not JsonValue rmValue || !rmValue.TryGetValue<bool>(out remove)))
        {
            throw new LocalApiException(400, "rm: expected true or false");
        }

        Dictionary<string, byte[]>? files = null;
        if (json["files"] is { } filesNode)
        {
            if (filesNode is not JsonObject fileMap)
            {
                throw new LocalApiException(400, "files: expected an object {\"relative/path\": \"<base64>\"}");
            }

            files = new Dictionary<string, byte[]>(StringComparer.Ordinal);
            foreach (var (path, content) in fileMap)
            {
                if (content is not JsonValue contentValue || !contentValue.TryGetValue<string>(out var base64))
                {
                    throw new LocalApiException(400, $"files: the content of '{path}' must be a base64 string");
                }

                try
                {
                    files[path] = Convert.FromBase64String(base64);
                }
                catch (FormatException)
                {
                    throw new LocalApiException(400, $"files: the content of '{path}' is not base64");
                }
            }
        }

        var spec = new JobSpec(name, command, restart, remove, OptionalString(json, "group"), files);
        spec.Validate();
        return spec;
    }

    /// <summary>Checks names and file paths; a 400 <see cref="LocalApiException"/> naming the field.</summary>
    public void Validate()
    {
        if (Command.Count == 0 || Command[0].Length == 0)
        {
            throw new LocalApiException(400, "command: the executable is missing");
        }

        if (Command.Any(static c => c.Contains('\0')))
        {
            throw new LocalApiException(400, "command: an argument holds a NUL character");
        }

        CheckName("name", Name);
        CheckName("group", Group);
        if (Restart < 0)
        {
            throw new LocalApiException(400, "restart: expected a whole number ≥ 0");
        }

        foreach (var path in Files?.Keys ?? [])
        {
            if (path.Length == 0 || path.Contains('\0') || path.Contains('\\') || Path.IsPathRooted(path)
                || path.Split('/').Any(static part => part is "" or "." or ".."))
            {
                throw new LocalApiException(400, $"files: '{path}' must be a relative path inside the job's directory (no '..', no leading '/')");
            }
        }
    }

    private static void CheckName(string field, string? value)
    {
        if (value is null)
        {
            return;
        }

        if (value.Length is 0 or > 128 || value.Any(static c => char.IsWhiteSpace(c) || char.IsControl(c) || c is '/' or '*'))
        {
            throw new LocalApiException(400, $"{field}: '{value}' must be 1-128 characters without whitespace, '/' or '*'");
        }
    }

    private static string? OptionalString(JsonObject json, string field)
    {
        var node = json[field];
        if (node is null)
        {
            return null;
        }

        if (node is not JsonValue value || !value.TryGetValue<string>(out var text))
        {
            throw new LocalApiException(400, $"{field}: expected a string");
        }

        return text.Length == 0 ? null : text;
    }
}
