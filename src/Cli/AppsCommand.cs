using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Trellis.Cli;

/// <summary><c>trellis apps create|info|poke|peek|watch|wipe|kill</c>: the apps API (<c>/apps</c>); every route needs a
/// token (the admin token or a node's). An app's refusal (a nack) is exit 1 with its text.</summary>
internal static class AppsCommand
{
    public static Command Create() => new("apps", "Apps (stateful agents in the cluster): create, info, poke, peek, watch, wipe, kill")
    {
        CreateApp(), Info(), Poke(), Peek(), Watch(), Wipe(), Kill(),
    };

    private static Argument<string> AppArgument() => new("app") { Description = "the app's name (a path for a child: chat/room-1)" };

    private static Command CreateApp()
    {
        var (app, format) = (AppArgument(), OutputFormat.Create(OutputFormat.Json));
        var agent = new Option<string>("--agent") { Description = "the agent: built in (counter, chat, parent) or served by a node", Required = true };
        var init = DataInput.Option("the app's init data");
        var id = IdOption();
        var command = new Command("create", "Create an app with an agent (again with the same agent: created false)") { app, agent, init, id, format };
        command.SetAction((parse, ct) => ClusterClient.RunAsync(parse, async (_, _) =>
        {
            var body = new JsonObject { ["app"] = parse.GetValue(app)!, ["agent"] = parse.GetValue(agent)! };
            if (await DataInput.ReadAsync(parse, init, ct) is { } data)
            {
                body["init"] = JsonNode.Parse(data);
            }

            if (parse.GetValue(id) is { } key)
            {
                body["id"] = key;
            }

            using var client = ClusterClient.Create(parse);
            var (_, created) = await client.SendAsync(HttpMethod.Post, "/apps", ClusterClient.Json(body.ToJsonString()), ct);
            await OutputFormat.WriteAsync(parse, format, created);
            return CliApp.Ok;
        }));
        return command;
    }

    private static Command Info()
    {
        var (app, format) = (AppArgument(), OutputFormat.Create(OutputFormat.Table));
        var command = new Command("info", "An app's agent, version, pokes, children and subscribers") { app, format };
        command.Aliases.Add("show");
        command.SetAction((parse, ct) => Simple(parse, format, HttpMethod.Get, Path(parse.GetValue(app)!), null, ct));
        return command;
    }

    private static Command Poke()
    {
        var (app, format) = (AppArgument(), OutputFormat.Create(OutputFormat.Json));
        var mark = new Argument<string>("mark") { Description = "the poke's mark (counter: add, reset; chat: say; parent: spawn, kill)" };
        var data = DataInput.Option("the poke's data");
        var id = IdOption();
        var command = new Command("poke", "Poke an app: {ack: true}, or exit 1 with its nack") { app, mark, data, id, format };
        command.SetAction(async (parse, ct) =>
        {
            var body = new JsonObject { ["mark"] = parse.GetValue(mark)! };
            body["data"] = await DataInput.ReadAsync(parse, data, ct) is { } d ? JsonNode.Parse(d) : null;
            if (parse.GetValue(id) is { } key)
            {
                body["id"] = key;
            }

            return await Simple(parse, format, HttpMethod.Post, Path(parse.GetValue(app)!, "poke"), body, ct);
        });
        return command;
    }

    private static Command Peek()
    {
        var (app, format) = (AppArgument(), OutputFormat.Create(OutputFormat.Json));
        var path = new Argument<string>("path") { Description = "the path to read (counter: /count)", DefaultValueFactory = _ => "/" };
        var command = new Command("peek", "Read an app's state at a path") { app, path, format };
        command.SetAction((parse, ct) =>
            Simple(parse, format, HttpMethod.Get, $"{Path(parse.GetValue(app)!, "peek")}?path={Uri.EscapeDataString(parse.GetValue(path)!)}", null, ct));
        return command;
    }

    private static Command Watch()
    {
        var (app, format) = (AppArgument(), OutputFormat.Create(OutputFormat.Json));
        var path = new Argument<string>("path") { Description = "the path to watch (counter: /count)", DefaultValueFactory = _ => "/" };
        var command = new Command("watch", "Watch an app's path: one JSON per event (watch-ack, fact, kick) until a kick or Ctrl+C") { app, path, format };
        command.SetAction((parse, ct) => ClusterClient.RunAsync(parse, async (_, _) =>
        {
            using var client = ClusterClient.Create(parse, Timeout.InfiniteTimeSpan);
            var route = $"{Path(parse.GetValue(app)!, "watch")}?path={Uri.EscapeDataString(parse.GetValue(path)!)}";
            await foreach (var (name, data) in client.EventsAsync(route, ct))
            {
                var e = new JsonObject { ["event"] = name };
                if (data.ValueKind == JsonValueKind.Object)
                {
                    foreach (var property in data.EnumerateObject())
                    {
                        e[property.Name] = JsonNode.Parse(property.Value.GetRawText());
                    }
                }
                else
                {
                    e["data"] = JsonNode.Parse(data.GetRawText());
                }

                var element = JsonSerializer.SerializeToElement(e);
                await OutputFormat.WriteEventAsync(parse, format, element, static v => [Tables.Field(v, "event"), Tables.Field(v, "path"), Tables.Field(v, "data")]);
            }

            return CliApp.Ok;
        }, ct));
        return command;
    }

    private static Command Wipe()
    {
        var (app, format) = (AppArgument(), OutputFormat.Create(OutputFormat.Json));
        var command = new Command("wipe", "Put an app's state back to init; every watcher is kicked") { app, format };
        command.SetAction((parse, ct) => Simple(parse, format, HttpMethod.Post, Path(parse.GetValue(app)!, "wipe"), null, ct));
        return command;
    }

    private static Command Kill()
    {
        var (app, format) = (AppArgument(), OutputFormat.Create(OutputFormat.Json));
        var command = new Command("kill", "Kill an app and its children") { app, format };
        command.SetAction((parse, ct) => Simple(parse, format, HttpMethod.Delete, Path(parse.GetValue(app)!), null, ct));
        return command;
    }

    private static Option<string?> IdOption() => new("--id") { Description = "an idempotency id: the same call again with it is applied once" };

    private static Task<int> Simple(ParseResult parse, Option<string> format, HttpMethod method, string path, JsonObject? body, CancellationToken cancellationToken) =>
        ClusterClient.RunAsync(parse, async (_, _) =>
        {
            using var client = ClusterClient.Create(parse);
            var (_, answer) = await client.SendAsync(method, path, body is null ? null : ClusterClient.Json(body.ToJsonString()), cancellationToken);
            await OutputFormat.WriteAsync(parse, format, answer);
            return CliApp.Ok;
        });

    /// <summary><c>/apps/{app}</c> or <c>/apps/{app}:{verb}</c>, each segment of the name escaped.</summary>
    private static string Path(string app, string? verb = null) =>
        "/apps/" + string.Join('/', app.Split('/').Select(Uri.EscapeDataString)) + (verb is null ? "" : ":" + verb);
}
