using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Trellis.Edge.Services;

namespace Trellis.Edge.Cli;

/// <summary><c>publish</c>, <c>unpublish</c>, <c>list</c> and <c>discover</c>: the services of gshell's CLI, through the
/// agent's local API.</summary>
internal static class ServiceCommands
{
    /// <summary>The CLI's call to the agent gives up after 60 s; a discover wait stays below that.</summary>
    private const double MaxTimeoutSeconds = 55;

    public static void Add(RootCommand root)
    {
        root.Subcommands.Add(Publish());
        root.Subcommands.Add(Unpublish());
        root.Subcommands.Add(List());
        root.Subcommands.Add(Discover());
    }

    private static Command Publish()
    {
        var publisher = new Argument<string>("PUBLISHER") { Description = "Who publishes it (1-64 characters, no '_', '/', '*' or whitespace)" };
        var service = new Argument<string>("SERVICE") { Description = "The service's name (same rules)" };
        var url = new Argument<string>("URL") { Description = "Where the program serves it: an http:// URL on this device" };
        var scope = new Option<string>("--scope") { Description = "Where it is visible: a list of os, lan, wan", DefaultValueFactory = _ => "os,lan,wan" };
        var command = new Command("publish", "Publish a local service under {PUBLISHER, SERVICE}") { publisher, service, url, scope };
        command.SetAction(async (parse, ct) =>
        {
            if (!ScopeNames.TryParse(parse.GetValue(scope), "--scope", out var scopes, out var problem) || (scopes & Scope.Process) != 0)
            {
                return await UsageAsync(problem ?? "--scope may not name process");
            }

            var body = new JsonObject
            {
                ["publisher"] = parse.GetValue(publisher),
                ["service"] = parse.GetValue(service),
                ["url"] = parse.GetValue(url),
                ["scopes"] = new JsonArray([.. ScopeNames.Names(scopes).Select(static n => (JsonNode)n)]),
            };
            return await EdgeCli.CallAsync(parse, HttpMethod.Post, "/v1/services", body, json =>
                Console.WriteLine($"published {json?["publisher"]}/{json?["service"]} at {json?["url"]} ({string.Join(",", (json?["scopes"] as JsonArray ?? []).Select(static s => (string?)s))})"), ct);
        });
        return command;
    }

    private static Command Unpublish()
    {
        var publisher = new Argument<string>("PUBLISHER") { Description = "Who published it" };
        var service = new Argument<string>("SERVICE") { Description = "The service's name" };
        var command = new Command("unpublish", "Withdraw a service published on this device") { publisher, service };
        command.SetAction((parse, ct) =>
            EdgeCli.CallAsync(parse, HttpMethod.Delete, $"/v1/services/{Uri.EscapeDataString(parse.GetValue(publisher)!)}/{Uri.EscapeDataString(parse.GetValue(service)!)}", null,
                json => Console.WriteLine($"unpublished {json?["publisher"]}/{json?["service"]}"), ct));
        return command;
    }

    private static Command List()
    {
        var publisher = new Option<string>("--publisher", "-p") { Description = "Publisher pattern ('*' matches any run of characters)", DefaultValueFactory = _ => "*" };
        var service = new Option<string>("--service", "-s") { Description = "Service pattern", DefaultValueFactory = _ => "*" };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Also the agent's own builtin services (the process scope)" };
        var command = new Command("list", "List the services discovery finds in every scope: PUBLISHER SERVICE PROVIDER SCOPE ADDRESS") { publisher, service, verbose };
        command.SetAction((parse, ct) =>
        {
            var scope = parse.GetValue(verbose) ? "process,os,lan,wan" : "os,lan,wan";
            return EdgeCli.CallAsync(parse, HttpMethod.Get, DiscoverPath(parse.GetValue(publisher)!, parse.GetValue(service)!, scope, 0), null,
                json => Console.Write(Table(json as JsonArray ?? [])), ct);
        });
        return command;
    }

    private static Command Discover()
    {
        var publisher = new Argument<string>("PUBLISHER") { Description = "Publisher (or pattern with '*')" };
        var service = new Argument<string>("SERVICE") { Description = "Service (or pattern with '*')" };
        var scope = new Option<string>("--scope") { Description = "Scopes to search, innermost first: process, os, lan, wan", DefaultValueFactory = _ => "process,os,lan,wan" };
        var timeout = new Option<double>("--timeout") { Description = $"Seconds to wait until a provider appears (0: look once; at most {MaxTimeoutSeconds})" };
        var output = new Option<string>("--output", "-o") { Description = "table or json", DefaultValueFactory = _ => "table" };
        var command = new Command("discover", "Find the providers of a service, in scope order process, os, lan, wan") { publisher, service, scope, timeout, output };
        command.SetAction(async (parse, ct) =>
        {
            var seconds = parse.GetValue(timeout);
            if (seconds is < 0 or > MaxTimeoutSeconds || !double.IsFinite(seconds))
            {
                return await UsageAsync($"--timeout must be from 0 to {MaxTimeoutSeconds} seconds");
            }

            if (!ScopeNames.TryParse(parse.GetValue(scope), "--scope", out _, out var problem))
            {
                return await UsageAsync(problem!);
            }

            var format = parse.GetValue(output);
            if (format is not ("table" or "json"))
            {
                return await UsageAsync($"-o must be table or json, not '{format}'");
            }

            var found = 0;
            var code = await EdgeCli.CallAsync(parse, HttpMethod.Get, DiscoverPath(parse.GetValue(publisher)!, parse.GetValue(service)!, parse.GetValue(scope)!, seconds), null, json =>
            {
                var items = json as JsonArray ?? [];
                found = items.Count;
                Console.Write(format == "json" ? items.ToJsonString() + Environment.NewLine : Table(items));
            }, ct);
            if (code == EdgeCli.Ok && found == 0)
            {
                await Console.Error.WriteLineAsync($"trellis-edge: no provider of {parse.GetValue(publisher)}/{parse.GetValue(service)} found");
                return EdgeCli.Refused;
            }

            return code;
        });
        return command;
    }

    private static string DiscoverPath(string publisher, string service, string scope, double timeout) =>
        $"/v1/discover?publisher={Uri.EscapeDataString(publisher)}&service={Uri.EscapeDataString(service)}&scope={Uri.EscapeDataString(scope)}&timeout={timeout.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>The found providers as aligned columns.</summary>
    internal static string Table(JsonArray items)
    {
        string[] header = ["PUBLISHER", "SERVICE", "PROVIDER", "SCOPE", "ADDRESS"];
        var rows = new List<string[]> { header };
        foreach (var item in items)
        {
            rows.Add([.. header.Select(h => (string?)item?[h.ToLowerInvariant()] ?? "")]);
        }

        var widths = new int[header.Length];
        foreach (var row in rows)
        {
            for (var i = 0; i < row.Length; i++)
            {
                widths[i] = Math.Max(widths[i], row[i].Length);
            }
        }

        var text = new StringBuilder();
        foreach (var row in rows)
        {
            for (var i = 0; i < row.Length; i++)
            {
                text.Append(i == row.Length - 1 ? row[i] : row[i].PadRight(widths[i] + 2));
            }

            text.AppendLine();
        }

        return text.ToString();
    }

    private static async Task<int> UsageAsync(string message)
    {
        await Console.Error.WriteLineAsync($"trellis-edge: {message}");
        return EdgeCli.Usage;
    }
}
