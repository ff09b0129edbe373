using System.CommandLine;
using System.Text.Json;

namespace Trellis.Cli;

/// <summary><c>trellis nodes list|show|register|delete</c>: the nodes of the Gilmour proxy API (<c>GET /nodes</c>, which
/// needs the admin token when the gateway has one, <c>GET|DELETE /nodes/{id}</c>, <c>POST /nodes</c>).</summary>
internal static class NodesCommand
{
    public static Command Create() => new("nodes", "The nodes registered with the cluster: list, show, register, delete")
    {
        List(), Show(), Register(), Delete(),
    };

    private static Command List()
    {
        var format = OutputFormat.Create(OutputFormat.Table);
        var command = new Command("list", "Every node of the cluster: id, status, port, health check, services, slots") { format };
        command.Aliases.Add("ls");
        command.SetAction((parse, ct) => ClusterClient.RunAsync(parse, async (_, _) =>
        {
            using var client = ClusterClient.Create(parse);
            var (_, body) = await client.SendAsync(HttpMethod.Get, "/nodes", null, ct);
            var nodes = body.ValueKind == JsonValueKind.Object && body.TryGetProperty("nodes", out var n) ? n : JsonSerializer.SerializeToElement(Array.Empty<object>());
            await OutputFormat.WriteAsync(parse, format, nodes, Rows);
            return CliApp.Ok;
        }));
        return command;
    }

    private static Command Show()
    {
        var format = OutputFormat.Create(OutputFormat.Table);
        var id = new Argument<string>("id") { Description = "the node's id" };
        var command = new Command("show", "One node: its port, health check, status, services and slots") { id, format };
        command.SetAction((parse, ct) => ClusterClient.RunAsync(parse, async (_, _) =>
        {
            using var client = ClusterClient.Create(parse);
            var (_, node) = await client.SendAsync(HttpMethod.Get, $"/nodes/{Uri.EscapeDataString(parse.GetValue(id)!)}", null, ct);
            await OutputFormat.WriteAsync(parse, format, node);
            return CliApp.Ok;
        }));
        return command;
    }

    private static Command Register()
    {
        var format = OutputFormat.Create(OutputFormat.Json);
        var file = new Option<string>("--file", "-f")
        {
            Description = "the registration, as POST /nodes takes it ({port, health_check, services, slots, …}): a JSON file, or - for stdin",
            Required = true,
        };
        var command = new Command("register", "Register a node from a JSON file; prints {id, status, token} (the node's token, shown once)") { file, format };
        command.SetAction((parse, ct) => ClusterClient.RunAsync(parse, async (_, _) =>
        {
            var path = parse.GetValue(file)!;
            var json = await DataInput.ReadAsync(path == "-" ? "@-" : "@" + path, "--file", ct);
            using var client = ClusterClient.Create(parse);
            var (_, registered) = await client.SendAsync(HttpMethod.Post, "/nodes", ClusterClient.Json(json), ct);
            await OutputFormat.WriteAsync(parse, format, registered);
            return CliApp.Ok;
        }));
        return command;
    }

    private static Command Delete()
    {
        var format = OutputFormat.Create(OutputFormat.Json);
        var id = new Argument<string>("id") { Description = "the node's id" };
        var command = new Command("delete", "Delete a node: its subscriptions go at once (at the gateway that serves it)") { id, format };
        command.Aliases.Add("rm");
        command.SetAction((parse, ct) => ClusterClient.RunAsync(parse, async (_, _) =>
        {
            using var client = ClusterClient.Create(parse);
            var (_, answer) = await client.SendAsync(HttpMethod.Delete, $"/nodes/{Uri.EscapeDataString(parse.GetValue(id)!)}", null, ct);
            await OutputFormat.WriteAsync(parse, format, answer);
            return CliApp.Ok;
        }));
        return command;
    }

    private static List<string[]> Rows(JsonElement nodes)
    {
        var rows = new List<string[]> { new[] { "ID", "STATUS", "PORT", "HEALTH", "SERVICES", "SLOTS" } };
        foreach (var node in nodes.ValueKind == JsonValueKind.Array ? nodes.EnumerateArray() : default)
        {
            rows.Add([Tables.Field(node, "id"), Tables.Field(node, "status"), Tables.Field(node, "port"), Tables.Field(node, "health_check"),
                Topics(node, "services"), Topics(node, "slots")]);
        }

        return rows;
    }

    private static string Topics(JsonElement node, string field) =>
        node.TryGetProperty(field, out var list) && list.ValueKind == JsonValueKind.Array && list.GetArrayLength() > 0
            ? string.Join(",", list.EnumerateArray().Select(static s => Tables.Field(s, "topic")))
            : "-";
}
