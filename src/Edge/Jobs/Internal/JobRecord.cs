using System.Text.Json;
using System.Text.Json.Nodes;

namespace Trellis.Edge.Jobs.Internal;

/// <summary>A job's state as WorkDir/jobs/&lt;id&gt;/job.json keeps it, so a new agent can adopt or finish it.</summary>
internal sealed class JobRecord
{
    public required string Id { get; init; }

    public required string Name { get; init; }

    public required string[] Command { get; init; }

    public int RestartMax { get; init; }

    public bool AutoRemove { get; init; }

    public string? Group { get; init; }

    public string[] Files { get; init; } = [];

    public DateTimeOffset CreatedAt { get; init; }

    public int Pid { get; set; }

    public long ProcessStart { get; set; }

    public int WrapperPid { get; set; }

    public long WrapperStart { get; set; }

    public string Status { get; set; } = "stopped";

    public int Restarts { get; set; }

    public DateTimeOffset? StartAt { get; set; }

    public DateTimeOffset? EndAt { get; set; }

    /// <summary>Set while a stop or kill is under way: what the status becomes when the process ends (no restart then).</summary>
    public string? Ending { get; set; }

    /// <summary>When the wrapper was launched but has not yet written its pid (a group's runner launches it).</summary>
    public DateTimeOffset? LaunchedAt { get; set; }

    public bool Running => Status == "running";

    public JobSnapshot Snapshot() => new(Id, Name, Group ?? "", StartAt, Status, Restarts);

    public JsonObject ToJson() => new()
    {
        ["id"] = Id,
        ["name"] = Name,
        ["command"] = new JsonArray([.. Command.Select(static c => (JsonNode?)c)]),
        ["restart"] = RestartMax,
        ["rm"] = AutoRemove,
        ["group"] = Group,
        ["files"] = new JsonArray([.. Files.Select(static f => (JsonNode?)f)]),
        ["createdAt"] = CreatedAt.ToString("O"),
        ["pid"] = Pid,
        ["processStart"] = ProcessStart,
        ["wrapperPid"] = WrapperPid,
        ["wrapperStart"] = WrapperStart,
        ["status"] = Status,
        ["restarts"] = Restarts,
        ["startAt"] = StartAt?.ToString("O"),
        ["endAt"] = EndAt?.ToString("O"),
        ["ending"] = Ending,
    };

    public static JobRecord FromJson(JsonNode json) => new()
    {
        Id = (string)json["id"]!,
        Name = (string)json["name"]!,
        Command = [.. json["command"]!.AsArray().Select(static c => (string)c!)],
        RestartMax = (int?)json["restart"] ?? 0,
        AutoRemove = (bool?)json["rm"] ?? false,
        Group = (string?)json["group"],
        Files = json["files"] is JsonArray files ? [.. files.Select(static f => (string)f!)] : [],
        CreatedAt = json["createdAt"] is { } created ? DateTimeOffset.Parse((string)created!, System.Globalization.CultureInfo.InvariantCulture) : default,
        Pid = (int?)json["pid"] ?? 0,
        ProcessStart = (long?)json["processStart"] ?? 0,
        WrapperPid = (int?)json["wrapperPid"] ?? 0,
        WrapperStart = (long?)json["wrapperStart"] ?? 0,
        Status = (string?)json["status"] ?? "failed:unreadable",
        Restarts = (int?)json["restarts"] ?? 0,
        StartAt = json["startAt"] is { } start ? DateTimeOffset.Parse((string)start!, System.Globalization.CultureInfo.InvariantCulture) : null,
        EndAt = json["endAt"] is { } end ? DateTimeOffset.Parse((string)end!, System.Globalization.CultureInfo.InvariantCulture) : null,
        Ending = (string?)json["ending"],
    };

    public void Save(string directory)
    {
        var path = Path.Combine(directory, "job.json");
        var temp = path + ".tmp";
        using (var stream = File.Create(temp))
        using (var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            ToJson().WriteTo(writer);
        }

        File.Move(temp, path, overwrite: true);
    }
}
