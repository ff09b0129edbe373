using System.Text.Json;
using System.Text.Json.Nodes;

namespace Trellis.Bench.Flows;

/// <summary>A Trellis activity home (src/Flows/Activities) for P8b: node activities running bench/Flows/activities/stage.js,
/// enabled by writing the home's config.json, which a silo's activity host rescans.</summary>
internal sealed class ActivityHome : IDisposable
{
    private readonly List<string> _enabled = [];

    public string Path { get; } = Directory.CreateTempSubdirectory("trellis-p8b-home-").FullName;

    /// <summary>Installs and enables an activity whose role is <paramref name="role"/> and that runs stage.js with <paramref name="stage"/>.</summary>
    public void Enable(string role, string stage)
    {
        var id = Guid.NewGuid().ToString();
        var dir = System.IO.Path.Combine(Path, "activities", id);
        Directory.CreateDirectory(dir);
        var script = System.IO.Path.Combine(NodeParticipants.Repository, "bench", "Flows", "activities", "stage.js");
        File.WriteAllText(System.IO.Path.Combine(dir, "activity.json"), new JsonObject
        {
            ["id"] = id,
            ["name"] = role,
            ["version"] = "1.0.0",
            ["tags"] = new JsonArray("bench"),
            ["entry"] = new JsonArray("node", script, stage),
        }.ToJsonString());
        _enabled.Add(id);
        var config = new JsonObject
        {
            ["repositories"] = new JsonArray(),
            ["enabled"] = new JsonArray(_enabled.Select(e => (JsonNode?)e).ToArray()),
            ["tags"] = new JsonObject(),
        };
        var file = System.IO.Path.Combine(Path, "config.json");
        File.WriteAllText(file + ".tmp", config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        File.Move(file + ".tmp", file, overwrite: true);
    }

    /// <summary>Disables everything (the host stops the processes).</summary>
    public void DisableAll()
    {
        _enabled.Clear();
        File.WriteAllText(System.IO.Path.Combine(Path, "config.json"), """{"repositories":[],"enabled":[],"tags":{}}""");
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
