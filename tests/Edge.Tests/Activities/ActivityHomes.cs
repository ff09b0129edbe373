using System.Text.Json.Nodes;
using System.Threading.Channels;
using Trellis.Edge.Activities;

namespace Trellis.Edge.Tests.Activities;

/// <summary>Activity homes as <c>trellis activity init/create/enable</c> leave them, written by hand (the agent's tests
/// cannot reference the CLI): <c>config.json</c> and <c>activities/&lt;uuid&gt;/</c> with a manifest and a program.</summary>
internal sealed class ActivityHomes
{
    /// <summary>Upper-cases every string it is given, as <c>samples/activities/upper</c> does; <c>{"crash": N}</c> exits with N,
    /// <c>{"garbage": true}</c> writes a line that is not JSON first, <c>{"reject": "why"}</c> rejects the message.</summary>
    public const string UpperPython = """
        import json, sys

        def upper(v):
            if isinstance(v, str):
                return v.upper()
            if isinstance(v, list):
                return [upper(x) for x in v]
            if isinstance(v, dict):
                return {k: upper(x) for k, x in v.items()}
            return v

        print("upper: ready", file=sys.stderr, flush=True)
        for line in sys.stdin:
            msg = json.loads(line)
            data = msg.get("data")
            if isinstance(data, dict) and "crash" in data:
                sys.exit(int(data["crash"]))
            if isinstance(data, dict) and data.get("garbage"):
                print("this is not a protocol line", flush=True)
            if isinstance(data, dict) and "reject" in data:
                print(json.dumps({"id": msg["id"], "error": data["reject"]}, separators=(",", ":")), flush=True)
                continue
            print(json.dumps({"id": msg["id"], "port": "out", "data": upper(data)}, separators=(",", ":")), flush=True)
            print(json.dumps({"id": msg["id"], "ack": True}), flush=True)
        """;

    public ActivityHomes(string root)
    {
        Home = Path.Combine(root, "home");
        Directory.CreateDirectory(Path.Combine(Home, "activities"));
        SetEnabled();
    }

    public string Home { get; }

    /// <summary>Writes an activity directory; returns its id.</summary>
    public Guid Add(string name, string[] entry, string file, string program, string[]? tags = null)
    {
        var id = Guid.NewGuid();
        var dir = Path.Combine(Home, "activities", id.ToString());
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, file), program);
        var manifest = new JsonObject
        {
            ["id"] = id.ToString(),
            ["name"] = name,
            ["version"] = "0.1.0",
            ["tags"] = new JsonArray([.. (tags ?? []).Select(static t => (JsonNode?)JsonValue.Create(t))]),
            ["entry"] = new JsonArray([.. entry.Select(static t => (JsonNode?)JsonValue.Create(t))]),
            ["ports"] = new JsonObject { ["in"] = new JsonArray("in"), ["out"] = new JsonArray("out") },
        };
        File.WriteAllText(Path.Combine(dir, HostedActivity.FileName), manifest.ToJsonString());
        return id;
    }

    public Guid AddUpper(string name) => Add(name, ["/usr/bin/python3", "-u", "main.py"], "main.py", UpperPython, ["python"]);

    /// <summary>Writes <c>activities/&lt;dir&gt;/activity.json</c> as given (a broken one).</summary>
    public void AddBroken(string dir, string manifest)
    {
        var path = Path.Combine(Home, "activities", dir);
        Directory.CreateDirectory(path);
        File.WriteAllText(Path.Combine(path, HostedActivity.FileName), manifest);
    }

    public void SetEnabled(params string[] enabled)
    {
        var config = new JsonObject
        {
            ["repositories"] = new JsonArray(),
            ["enabled"] = new JsonArray([.. enabled.Select(static e => (JsonNode?)JsonValue.Create(e))]),
            ["tags"] = new JsonObject(),
        };
        var temp = Path.Combine(Home, "config.json.tmp");
        File.WriteAllText(temp, config.ToJsonString());
        File.Move(temp, Path.Combine(Home, "config.json"), overwrite: true);
    }
}

/// <summary>Collects what the activities answer, as the link would carry it.</summary>
internal sealed class TestOutlet : IActivityOutlet
{
    public Channel<(Guid Activity, string Port, string Data, string? DeliveryId)> Outputs { get; } = Channel.CreateUnbounded<(Guid, string, string, string?)>();

    public Channel<(Guid Activity, string DeliveryId, string? Error, bool Requeue)> Done { get; } = Channel.CreateUnbounded<(Guid, string, string?, bool)>();

    public ValueTask OutputAsync(Guid activityId, string port, ReadOnlyMemory<byte> data, string? deliveryId)
    {
        Outputs.Writer.TryWrite((activityId, port, System.Text.Encoding.UTF8.GetString(data.Span), deliveryId));
        return ValueTask.CompletedTask;
    }

    public ValueTask DoneAsync(Guid activityId, string deliveryId, string? error, bool requeue)
    {
        Done.Writer.TryWrite((activityId, deliveryId, error, requeue));
        return ValueTask.CompletedTask;
    }
}
