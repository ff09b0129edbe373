using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Trellis.Edge.Activities;

/// <summary>An enabled activity of the device's home: its <c>activity.json</c> read with the rules of
/// src/Flows/Activities/ActivityManifest.cs (the agent cannot reference Trellis.Flows), its directory and tags.</summary>
/// <param name="Manifest">The manifest's text, sent to the gateway, which reads role and ports from it with the cluster's own parser.</param>
public sealed partial record HostedActivity(
    Guid Id,
    string Name,
    string Version,
    string Role,
    IReadOnlyList<string> Entry,
    IReadOnlyList<string> Inports,
    IReadOnlyList<string> Outports,
    IReadOnlyList<string> Tags,
    string Directory,
    string Manifest)
{
    public const string FileName = "activity.json";

    /// <summary>True when both would run the same process with the same ports (a change of anything else needs no restart).</summary>
    public bool SameRun(HostedActivity other) =>
        Directory == other.Directory
        && Role == other.Role
        && Entry.SequenceEqual(other.Entry)
        && Inports.SequenceEqual(other.Inports)
        && Outports.SequenceEqual(other.Outports);

    /// <summary>Reads and validates <c>activity.json</c> in <paramref name="directory"/>; <see cref="FormatException"/> names the file and the field.</summary>
    public static HostedActivity Load(string directory, IReadOnlyList<string> hostTags)
    {
        var path = Path.Combine(directory, FileName);
        if (!File.Exists(path))
        {
            throw new FormatException($"{path}: no {FileName} (an activity directory holds one)");
        }

        return Parse(File.ReadAllText(path), path, directory, hostTags);
    }

    public static HostedActivity Parse(string json, string source, string directory, IReadOnlyList<string> hostTags)
    {
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(json);
        }
        catch (JsonException e)
        {
            throw new FormatException($"{source}: not valid JSON ({e.Message})");
        }

        if (root is not JsonObject o)
        {
            throw new FormatException($"{source}: must be a JSON object");
        }

        var idText = Text(o, "id", source);
        if (string.IsNullOrWhiteSpace(idText))
        {
            throw new FormatException($"{source}: field 'id' is missing (a UUID)");
        }

        if (!Guid.TryParseExact(idText, "D", out var id) || id == Guid.Empty)
        {
            throw new FormatException($"{source}: field 'id' must be a UUID like 53ce2372-f6ef-4037-84cb-15bbec5ada5b, not '{idText}'");
        }

        var name = Text(o, "name", source);
        if (string.IsNullOrEmpty(name))
        {
            throw new FormatException($"{source}: field 'name' is missing");
        }

        if (!NamePattern().IsMatch(name))
        {
            throw new FormatException($"{source}: field 'name' '{name}' is not a valid name (lower case letters, digits, '.', '_', '-', optionally '@scope/name')");
        }

        var entry = Texts(o, "entry", source, splitString: true);
        if (entry.Count == 0 || string.IsNullOrWhiteSpace(entry[0]))
        {
            throw new FormatException($"{source}: field 'entry' is empty (give the command and its arguments, e.g. [\"/usr/bin/python3\", \"main.py\"])");
        }

        var tags = Texts(o, "tags", source, splitString: false);
        foreach (var tag in tags)
        {
            if (!TagPattern().IsMatch(tag))
            {
                throw new FormatException($"{source}: field 'tags' has a bad tag '{tag}' (letters, digits, '.', '_', '-', ':')");
            }
        }

        IReadOnlyList<string> inports = ["in"];
        IReadOnlyList<string> outports = ["out"];
        if (o["ports"] is JsonNode portsNode)
        {
            if (portsNode is not JsonObject ports)
            {
                throw new FormatException($"{source}: field 'ports' must be an object {{\"in\": [...], \"out\": [...]}}");
            }

            inports = Ports(ports, "in", source) ?? inports;
            outports = Ports(ports, "out", source) ?? outports;
        }

        var role = Text(o, "role", source);
        if (role is not null && !RolePattern().IsMatch(role))
        {
            throw new FormatException($"{source}: field 'role' '{role}' is not a valid role (letters, digits, '_', '-')");
        }

        _ = Text(o, "description", source);
        _ = Text(o, "icon", source);
        foreach (var tag in hostTags)
        {
            if (!tags.Contains(tag))
            {
                tags.Add(tag);
            }
        }

        return new HostedActivity(id, name, Text(o, "version", source) ?? "0.0.0", role ?? name.TrimStart('@').Replace('/', '-'), entry, inports, outports, tags, directory, json);
    }

    private static string? Text(JsonObject o, string field, string source) => o[field] switch
    {
        null => null,
        JsonValue v when v.TryGetValue<string>(out var s) => s,
        _ => throw new FormatException($"{source}: field '{field}' must be a string"),
    };

    private static List<string> Texts(JsonObject o, string field, string source, bool splitString)
    {
        switch (o[field])
        {
            case null:
                return [];
            case JsonValue v when splitString && v.TryGetValue<string>(out var s):
                return [.. s.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];
            case JsonArray a:
                var list = new List<string>(a.Count);
                foreach (var item in a)
                {
                    if (item is not JsonValue iv || !iv.TryGetValue<string>(out var text))
                    {
                        throw new FormatException($"{source}: field '{field}' must be an array of strings");
                    }

                    list.Add(text);
                }

                return list;
            default:
                throw new FormatException($"{source}: field '{field}' must be an array of strings");
        }
    }

    private static List<string>? Ports(JsonObject ports, string direction, string source)
    {
        if (ports[direction] is null)
        {
            return null;
        }

        var list = Texts(ports, direction, source, splitString: false);
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var port in list)
        {
            if (!PortPattern().IsMatch(port) || !seen.Add(port))
            {
                throw new FormatException($"{source}: field 'ports.{direction}' has a bad or repeated port '{port}' (letters, digits, '_', '-')");
            }
        }

        return [.. list.Select(static p => p.ToLowerInvariant())];
    }

    [GeneratedRegex("^(@[a-z0-9][a-z0-9._-]*/)?[a-z0-9][a-z0-9._-]*$")]
    private static partial Regex NamePattern();

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._:-]*$")]
    private static partial Regex TagPattern();

    [GeneratedRegex("^[A-Za-z0-9_][A-Za-z0-9_-]*$")]
    private static partial Regex PortPattern();

    [GeneratedRegex("^[A-Za-z0-9_][A-Za-z0-9_.-]*$")]
    private static partial Regex RolePattern();
}
