using System.CommandLine;
using System.Text.Json;

namespace Trellis.Cli;

/// <summary><c>trellis activity list [--url URL]</c>: the installed activities (id, name, version, tags, enabled); with
/// <c>--url</c>, also where each runs in the cluster and its state there (GET /activities).</summary>
internal static class ActivityListCommand
{
    public static Command Create(Option<string?> home)
    {
        var url = ClusterClient.UrlOption();
        var token = ClusterClient.TokenOption();
        var command = new Command("list", "List the installed activities") { url, token };
        command.Aliases.Add("ls");
        command.SetAction((parse, ct) => ActivityCommand.RunAsync(parse, async output =>
        {
            var problems = new List<string>();
            var installed = ActivityCommand.Store(parse, home).List(problems);
            var runs = new Dictionary<Guid, List<string>>();
            // The cluster is asked only when --url (or TRELLIS_URL) names one.
            if (parse.GetResult(url) is { Implicit: false } || Environment.GetEnvironmentVariable("TRELLIS_URL") is { Length: > 0 })
            {
                using var client = ClusterClient.Create(parse, url, token, TimeSpan.FromSeconds(10));
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

            await output.WriteLineAsync($"total {installed.Count}");
            var rows = new List<string[]> { new[] { "ID", "NAME", "VERSION", "ENABLED", "TAGS", "RUNNING" } };
            foreach (var a in installed)
            {
                var where = runs.TryGetValue(a.Manifest.Id, out var hosts) && hosts.Count > 0 ? string.Join(" ", hosts) : "-";
                rows.Add([a.Manifest.Id.ToString(), a.Manifest.Name, a.Manifest.Version, a.Enabled ? "yes" : "no", a.Tags.Count > 0 ? string.Join(",", a.Tags) : "-", where]);
            }

            var widths = Enumerable.Range(0, rows[0].Length).Select(i => rows.Max(r => r[i].Length)).ToArray();
            foreach (var row in rows)
            {
                await output.WriteLineAsync(string.Join("  ", row.Select((cell, i) => cell.PadRight(widths[i]))).TrimEnd());
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
