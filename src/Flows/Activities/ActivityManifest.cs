using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Trellis.Core.Errors;

namespace Trellis.Flows.Activities;

/// <summary>An activity's <c>activity.json</c>: who it is, how to run it (<see cref="Entry"/>, run in the activity's
/// directory) and its ports. Enabled on a host, it is the MsgFlo participant <see cref="Role"/> with a queue
/// <c>&lt;role&gt;.&lt;PORT&gt;</c> per inport and an exchange of that form per outport.</summary>
public sealed partial record ActivityManifest(
    Guid Id,
    string Name,
    string Version,
    string? Description,
    IReadOnlyList<string> Tags,
    IReadOnlyList<string> Entry,
    IReadOnlyList<string> Inports,
    IReadOnlyList<string> Outports,
    string? Icon = null,
    string? RoleOverride = null)
{
    public const string FileName = "activity.json";

    /// <summary>The graph node name: <c>role</c> from the manifest, else the name without <c>@</c> and with <c>/</c> as <c>-</c>
    /// (<c>@acme/upper</c> → <c>acme-upper</c>).</summary>
    public string Role => RoleOverride ?? RoleOf(Name);

    /// <summary>The queue of an inport (<c>upper.IN</c>), named as msgflo-nodejs names it.</summary>
    public string QueueOf(string port) => $"{Role}.{port.ToUpperInvariant()}";

    public static string RoleOf(string name) => name.TrimStart('@').Replace('/', '-');

    /// <summary>True for <c>name</c> or <c>@scope/name</c> in lower case letters, digits, <c>.</c>, <c>_</c> and <c>-</c>.</summary>
    public static bool IsValidName(string name) => NamePattern().IsMatch(name);

    /// <summary>Reads and validates a manifest; <paramref name="source"/> names it in errors.</summary>
    public static ActivityManifest Parse(string json, string source = FileName)
    {
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(json);
        }
        catch (JsonException e)
        {
            throw TrellisException.Invalid($"{source}: not valid JSON ({e.Message})");
        }

        if (root is not JsonObject o)
        {
            throw TrellisException.Invalid($"{source}: must be a JSON object");
        }

        var idText = String(o, "id", source);
        if (string.IsNullOrWhiteSpace(idText))
        {
            throw TrellisException.Invalid($"{source}: field 'id' is missing (a UUID such as {Guid.NewGuid()})");
        }

        if (!Guid.TryParseExact(idText, "D", out var id) || id == Guid.Empty)
        {
            throw TrellisException.Invalid($"{source}: field 'id' must be a UUID like 53ce2372-f6ef-4037-84cb-15bbec5ada5b, not '{idText}'");
        }

        var name = String(o, "name", source);
        if (string.IsNullOrEmpty(name))
        {
            throw TrellisException.Invalid($"{source}: field 'name' is missing");
        }

        if (!IsValidName(name))
        {
            throw TrellisException.Invalid($"{source}: field 'name' '{name}' is not a valid name (lower case letters, digits, '.', '_', '-', optionally '@scope/name')");
        }

        var version = String(o, "version", source) ?? "0.0.0";
        var entry = StringList(o, "entry", source, splitString: true);
        if (entry.Count == 0 || string.IsNullOrWhiteSpace(entry[0]))
        {
            throw TrellisException.Invalid($"{source}: field 'entry' is empty (give the command and its arguments, e.g. [\"/usr/bin/python3\", \"main.py\"])");
        }

        var tags = StringList(o, "tags", source, splitString: false);
        foreach (var tag in tags)
        {
            if (!TagPattern().IsMatch(tag))
            {
                throw TrellisException.Invalid($"{source}: field 'tags' has a bad tag '{tag}' (letters, digits, '.', '_', '-', ':')");
            }
        }

        IReadOnlyList<string> inports = ["in"];
        IReadOnlyList<string> outports = ["out"];
        if (o["ports"] is JsonNode portsNode)
        {
            if (portsNode is not JsonObject ports)
            {
                throw TrellisException.Invalid($"{source}: field 'ports' must be an object {{\"in\": [...], \"out\": [...]}}");
            }

            inports = Ports(ports, "in", source) ?? inports;
            outports = Ports(ports, "out", source) ?? outports;
        }

        var role = String(o, "role", source);
        if (role is not null && !RolePattern().IsMatch(role))
        {
            throw TrellisException.Invalid($"{source}: field 'role' '{role}' is not a valid role (letters, digits, '_', '-')");
        }

        return new ActivityManifest(id, name, version, String(o, "description", source), tags, entry, inports, outports, String(o, "icon", source), role);
    }

    /// <summary>Reads <c>activity.json</c> from an activity directory.</summary>
    public static ActivityManifest Load(string directory)
    {
        var path = Path.Combine(directory, FileName);
        if (!File.Exists(path))
        {
            throw new TrellisException(ErrorKind.NotFound, $"{path}: no {FileName} (an activity directory holds one)");
        }

        return Parse(File.ReadAllText(path), path);
    }

    public JsonObject ToJson()
    {
        var o = new JsonObject
        {
            ["id"] = Id.ToString(),
            ["name"] = Name,
            ["version"] = Version,
        };
        if (Description is not null)
        {
            o["description"] = Description;
        }

        o["tags"] = new JsonArray([.. Tags.Select(static t => (JsonNode?)JsonValue.Create(t))]);
        o["entry"] = new JsonArray([.. Entry.Select(static t => (JsonNode?)JsonValue.Create(t))]);
        o["ports"] = new JsonObject
        {
            ["in"] = new JsonArray([.. Inports.Select(static t => (JsonNode?)JsonValue.Create(t))]),
            ["out"] = new JsonArray([.. Outports.Select(static t => (JsonNode?)JsonValue.Create(t))]),
        };
        if (Icon is not null)
        {
            o["icon"] = Icon;
        }

        if (RoleOverride is not null)
        {
            o["role"] = RoleOverride;
        }

        return o;
    }

    public void Save(string directory) =>
        File.WriteAllText(Path.Combine(directory, FileName), ToJson().ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");

    private static string? String(JsonObject o, string field, string source) => o[field] switch
    {
        null => null,
        JsonValue v when v.TryGetValue<string>(out var s) => s,
        _ => throw TrellisException.Invalid($"{source}: field '{field}' must be a string"),
    };

    private static List<string> StringList(JsonObject o, string field, string source, bool splitString)
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
                        throw TrellisException.Invalid($"{source}: field '{field}' must be an array of strings");
                    }

                    list.Add(text);
                }

                return list;
            default:
                throw TrellisException.Invalid($"{source}: field '{field}' must be an array of strings");
        }
    }

    private static List<string>? Ports(JsonObject ports, string direction, string source)
    {
        if (ports[direction] is null)
        {
            return null;
        }

        var list = StringList(ports, direction, source, splitString: false);
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var port in list)
        {
            if (!PortPattern().IsMatch(port) || !seen.Add(port))
            {
                throw TrellisException.Invalid($"{source}: field 'ports.{direction}' has a bad or repeated port '{port}' (letters, digits, '_', '-')");
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
