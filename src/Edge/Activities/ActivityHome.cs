using System.Text.Json;
using System.Text.Json.Nodes;

namespace Trellis.Edge.Activities;

/// <summary>An activity home as <c>trellis activity init/create/install/enable</c> leave it: <c>config.json</c>
/// (<c>{"repositories": [...], "enabled": [ids and tag:TAG rules], "tags": {"&lt;id&gt;": [...]}}</c>) and
/// <c>activities/&lt;uuid&gt;/activity.json</c>. The agent only reads it.</summary>
public sealed class ActivityHome(string home)
{
    public string Home { get; } = Path.GetFullPath(home);

    public string ConfigPath => Path.Combine(Home, "config.json");

    public string ActivitiesDirectory => Path.Combine(Home, "activities");

    /// <summary>The enabled activities, by name; <paramref name="problems"/> gets one line per activity directory that
    /// could not be read, which is skipped. Null (with the problem) when the home or its <c>config.json</c> cannot be read:
    /// the host then keeps what runs, as a silo's host does, rather than stop everything over a bad edit.</summary>
    public IReadOnlyList<HostedActivity>? ListEnabled(List<string> problems)
    {
        if (!File.Exists(ConfigPath) || !Directory.Exists(ActivitiesDirectory))
        {
            problems.Add($"no activity home at {Home}: run 'trellis activity init --home {Home}'");
            return null;
        }

        List<string> enabled;
        Dictionary<string, List<string>> hostTags;
        try
        {
            (enabled, hostTags) = ReadConfig(File.ReadAllText(ConfigPath), ConfigPath);
        }
        catch (Exception e) when (e is FormatException or IOException or UnauthorizedAccessException)
        {
            problems.Add(e.Message);
            return null;
        }

        var list = new List<HostedActivity>();
        foreach (var dir in Directory.EnumerateDirectories(ActivitiesDirectory))
        {
            var dirName = Path.GetFileName(dir);
            if (dirName.StartsWith('.'))
            {
                continue;
            }

            HostedActivity activity;
            try
            {
                activity = HostedActivity.Load(dir, hostTags.GetValueOrDefault(dirName.ToLowerInvariant()) ?? []);
            }
            catch (Exception e) when (e is FormatException or IOException or UnauthorizedAccessException)
            {
                problems.Add(e.Message);
                continue;
            }

            if (!string.Equals(dirName, activity.Id.ToString(), StringComparison.OrdinalIgnoreCase))
            {
                problems.Add($"{dir}: the directory is not named by the manifest's id {activity.Id}");
                continue;
            }

            var id = activity.Id.ToString();
            if (enabled.Exists(e => string.Equals(e, id, StringComparison.OrdinalIgnoreCase) || (e.StartsWith("tag:", StringComparison.Ordinal) && activity.Tags.Contains(e[4..]))))
            {
                list.Add(activity);
            }
        }

        list.Sort(static (a, b) => string.CompareOrdinal(a.Name, b.Name));
        return list;
    }

    private static (List<string> Enabled, Dictionary<string, List<string>> Tags) ReadConfig(string json, string source)
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

        var tags = new Dictionary<string, List<string>>(StringComparer.OrdinalIgnoreCase);
        if (o["tags"] is JsonObject tagObject)
        {
            foreach (var (id, list) in tagObject)
            {
                tags[id.ToLowerInvariant()] = Strings(list, $"tags.{id}", source);
            }
        }
        else if (o["tags"] is not null)
        {
            throw new FormatException($"{source}: field 'tags' must be an object of activity id → [tags]");
        }

        return (Strings(o["enabled"], "enabled", source), tags);
    }

    private static List<string> Strings(JsonNode? node, string field, string source)
    {
        if (node is null)
        {
            return [];
        }

        if (node is not JsonArray a)
        {
            throw new FormatException($"{source}: field '{field}' must be an array of strings");
        }

        var list = new List<string>(a.Count);
        foreach (var item in a)
        {
            if (item is not JsonValue v || !v.TryGetValue<string>(out var s))
            {
                throw new FormatException($"{source}: field '{field}' must be an array of strings");
            }

            list.Add(s);
        }

        return list;
    }
}
