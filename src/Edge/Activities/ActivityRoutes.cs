using System.Text.Json.Nodes;
using Trellis.Edge.Local;

namespace Trellis.Edge.Activities;

/// <summary><c>GET /v1/activities</c> on the local API (and from the cluster as a device command): each activity the
/// agent hosts with its state, and the home's problems.</summary>
public static class ActivityRoutes
{
    public static void Map(LocalRouter router, EdgeActivities activities) =>
        router.Map("GET", "/v1/activities", (_, _, _) => Task.FromResult(LocalResponse.Ok(ToJson(activities))), remote: true);

    public static JsonObject ToJson(EdgeActivities activities)
    {
        var list = new JsonArray();
        foreach (var s in activities.States)
        {
            list.Add((JsonNode)new JsonObject
            {
                ["id"] = s.Id.ToString(),
                ["name"] = s.Name,
                ["version"] = s.Version,
                ["role"] = s.Role,
                ["status"] = s.Status,
                ["pid"] = s.Pid,
                ["restarts"] = s.Restarts,
                ["lastError"] = s.LastError,
                ["changed"] = s.Changed.ToString("O"),
            });
        }

        var problems = new JsonArray();
        foreach (var p in activities.Problems)
        {
            problems.Add((JsonNode?)JsonValue.Create(p));
        }

        return new JsonObject { ["home"] = activities.Home, ["activities"] = list, ["problems"] = problems };
    }
}
