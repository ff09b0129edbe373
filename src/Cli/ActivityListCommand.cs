using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Trellis.Cli;

/// <summary><c>trellis activity list [--url URL]</c>: the installed activities (id, name, version, tags, enabled); with
/// <c>--url</c>, also where each runs in the cluster and its state there (GET /activities).</summary>
internal static class ActivityListCommand
{
    public static Command Create(Option<string?> home)
    {
        var format = OutputFormat.Create(OutputFormat.Table);
        var command = new Command("list", "List the installed activities") { format };
        command.Aliases.Add("ls");
        command.SetAction((parse, ct) => ActivityCommand.RunAsync(parse, async output =>
        {
            var problems = new List<string>();
            var installed = ActivityCommand.Store(parse, home).List(problems);
            var runs = new Dictionary<Guid, List<string>>();
            // The cluster is asked only when --url, TRELLIS_URL or the profile names one.
            if (ConnectionOptions.UrlConfigured(parse))
            {
                using var client = ClusterClient.Create(parse, TimeSpan.FromSeconds(10));
                var (_, body) = await client.SendAsync(HttpMethod.Get, "/activities", null, ct);
                foreach (var a in body.ValueKind == JsonValueKind.Array ? body.EnumerateArray() : default)
                {
                    if (!Guid.TryParse(ActivityCommand.Text(a, "id"), out var id) || !a.TryGetProperty("hosts", out var hosts) || hosts.ValueKind != JsonValueKind.Array)
                    {
                        continue;
                    }

                    runs[id] = [.. hosts.EnumerateArray().Select(static h =>
                        $"{ActivityCommand.Text(h, "host")}:{ActivityCommand.Text(h, "status")}" +
                        (h.TryGetProperty("restarts", out var r) && r.ValueKind == JsonValueKind.Number && r.GetInt32() > 0 ? $"(restarts {r.GetInt32()})" : ""))];
                }
            }

            if (parse.GetValue(format) != OutputFormat.Table)
            {
                var list = new JsonArray([.. installed.Select(a => (JsonNode?)new JsonObject
                {
                    ["id"] = a.Manifest.Id.ToString(),
                    ["name"] = a.Manifest.Name,
                    ["version"] = a.Manifest.Version,
                    ["enabled"] = a.Enabled,
                    ["tags"] = new JsonArray([.. a.Tags.Select(static t => (JsonNode?)JsonValue.Create(t))]),
                    ["running"] = new JsonArray([.. (runs.TryGetValue(a.Manifest.Id, out var hosts) ? hosts : []).Select(static h => (JsonNode?)JsonValue.Create(h))]),
                })]);
                await OutputFormat.WriteAsync(parse, format, JsonSerializer.SerializeToElement(list));
            }
            else
            {
                await output.WriteLineAsync($"total {installed.Count}");
                var rows = new List<string[]> { new[] { "ID", "NAME", "VERSION", "ENABLED", "TAGS", "RUNNING" } };
                foreach (var a in installed)
                {
                    var where = runs.TryGetValue(a.Manifest.Id, out var hosts) && hosts.Count > 0 ? string.Join(" ", hosts) : "-";
                    rows.Add([a.Manifest.Id.ToString(), a.Manifest.Name, a.Manifest.Version, a.Enabled ? "yes" : "no", a.Tags.Count > 0 ? string.Join(",", a.Tags) : "-", where]);
                }

                await Tables.WriteAsync(output, rows);
            }

            foreach (var p in problems)
            {
                await parse.InvocationConfiguration.Error.WriteLineAsync($"trellis: skipped {p}");
            }

            return CliApp.Ok;
        }));
        return command;
    }
}
