using System.Text.Json.Nodes;
using Trellis.Core.Errors;

namespace Trellis.Flows.Activities;

/// <summary>The JSON form of an <see cref="ActivityRunState"/> that hosts report and <c>GET /activities</c> shows:
/// <c>{host, status, pid, restarts, lastError, changed, role, name, reportInterval?}</c> with the status in lower case
/// and the report interval in seconds.</summary>
public static class ActivityStateJson
{
    public static JsonObject ToJson(ActivityRunState state)
    {
        var json = new JsonObject
        {
            ["host"] = state.Host,
            ["status"] = state.Status.ToString().ToLowerInvariant(),
            ["pid"] = state.Pid,
            ["restarts"] = state.Restarts,
            ["lastError"] = state.LastError,
            ["changed"] = state.Changed.ToString("O"),
            ["role"] = state.Role,
            ["name"] = state.Name,
        };
        if (state.ReportInterval > TimeSpan.Zero)
        {
            json["reportInterval"] = state.ReportInterval.TotalSeconds;
        }

        return json;
    }

    /// <summary>Reads a reported state; errors name the field.</summary>
    public static ActivityRunState FromJson(Guid activityId, string host, JsonObject o)
    {
        var statusText = o["status"] is JsonValue s && s.TryGetValue<string>(out var st) ? st : null;
        if (statusText is null || !Enum.TryParse<ActivityRunStatus>(statusText, ignoreCase: true, out var status) || !Enum.IsDefined(status))
        {
            throw TrellisException.Invalid($"field 'status' must be one of starting, running, restarting, stopped, not '{statusText}'");
        }

        int? pid = o["pid"] is JsonValue p && p.TryGetValue<int>(out var pv) ? pv : null;
        var restarts = o["restarts"] is JsonValue r && r.TryGetValue<int>(out var rv) ? rv : 0;
        if (restarts < 0)
        {
            throw TrellisException.Invalid("field 'restarts' must not be negative");
        }

        double interval = 0;
        if (o["reportInterval"] is { } ri && (ri is not JsonValue riv || !riv.TryGetValue(out interval) || interval is < 0 or > 86_400 || double.IsNaN(interval)))
        {
            throw TrellisException.Invalid("field 'reportInterval' must be a number of seconds from 0 to 86400");
        }

        var changed = o["changed"] is JsonValue c && c.TryGetValue<string>(out var ct) && DateTimeOffset.TryParse(ct, out var cv) ? cv : DateTimeOffset.MinValue;
        return new ActivityRunState(
            activityId,
            Text(o, "name") ?? "",
            Text(o, "role") ?? "",
            host,
            status,
            pid,
            restarts,
            Text(o, "lastError"),
            changed)
        {
            ReportInterval = TimeSpan.FromSeconds(interval),
        };
    }

    private static string? Text(JsonObject o, string field) => o[field] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
}
