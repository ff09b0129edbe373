using System.Text.Json;
using System.Text.Json.Nodes;
using Trellis.Core.Errors;

namespace Trellis.Flows.Activities;

/// <summary>The home's <c>config.json</c>: the repositories <c>install</c> looks in (directories or http(s) URLs),
/// what is enabled (activity ids and <c>tag:TAG</c> rules) and the tags this host gave activities.</summary>
public sealed class ActivityStoreConfig
{
    public List<string> Repositories { get; } = [];

    /// <summary>Activity ids (lower-case UUIDs) and <c>tag:TAG</c> rules, in the order they were enabled.</summary>
    public List<string> Enabled { get; } = [];

    /// <summary>Host tags per activity id (added by <c>tag</c>, on top of the manifest's own).</summary>
    public Dictionary<string, List<string>> Tags { get; } = new(StringComparer.OrdinalIgnoreCase);

    public static ActivityStoreConfig Parse(string json, string source)
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

        var config = new ActivityStoreConfig();
        config.Repositories.AddRange(Strings(o["repositories"], "repositories", source));
        config.Enabled.AddRange(Strings(o["enabled"], "enabled", source));
        if (o["tags"] is JsonObject tags)
        {
            foreach (var (id, list) in tags)
            {
                config.Tags[id] = [.. Strings(list, $"tags.{id}", source)];
            }
        }
        else if (o["tags"] is not null)
        {
            throw TrellisException.Invalid($"{source}: field 'tags' must be an object of activity id → [tags]");
        }

        return config;
    }

    public string ToJsonString()
    {
        var tags = new JsonObject();
        foreach (var (id, list) in Tags)
        {
            tags[id] = Array(list);
        }

        var o = new JsonObject
        {
            ["repositories"] = Array(Repositories),
            ["enabled"] = Array(Enabled),
            ["tags"] = tags,
        };
        return o.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
    }

    private static JsonArray Array(IEnumerable<string> items) => new([.. items.Select(static t => (JsonNode?)JsonValue.Create(t))]);

    private static IEnumerable<string> Strings(JsonNode? node, string field, string source)
    {
        if (node is null)
        {
            yield break;
        }

        if (node is not JsonArray a)
        {
            throw TrellisException.Invalid($"{source}: field '{field}' must be an array of strings");
        }

        foreach (var item in a)
        {
            if (item is not JsonValue v || !v.TryGetValue<string>(out var s))
            {
                throw TrellisException.Invalid($"{source}: field '{field}' must be an array of strings");
            }

            yield return s;
        }
    }
}
