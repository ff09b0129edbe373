using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;

namespace Trellis.Cli;

/// <summary><c>trellis flow setup|send|dump</c>: msgflo's tools against a gateway's flows API.</summary>
internal static class FlowCommand
{
    public static Command Create() => new("flow", "Wire graphs and send or take messages on flow queues (msgflo-setup, -send-message, -dump-message)")
    {
        Setup(), Send(), Dump(),
    };

    private static Command Setup()
    {
        var file = new Argument<FileInfo>("graph") { Description = "the graph: a .fbp file, or a .json graph" };
        var graph = new Option<string>("--graph") { Description = "the graph's name in the cluster", DefaultValueFactory = _ => "default/main" };
        var wait = new Option<bool>("--wait") { Description = "wait until every participant the graph names is there and wired" };
        var timeout = new Option<double>("--timeout") { Description = "seconds to wait with --wait", DefaultValueFactory = _ => 30 };
        timeout.Validators.Add(r =>
        {
            if (r.GetValue(timeout) is <= 0 or > 86_400)
            {
                r.AddError("--timeout must be more than 0 and at most 86400 seconds");
            }
        });
        var command = new Command("setup", "Set a graph and wire it; print the bindings as msgflo-setup does (PUBSUB:, ROUNDROBIN:, DEADLETTER:)")
        {
            file, graph, wait, timeout,
        };
        command.SetAction((parse, ct) => ClusterClient.RunAsync(parse, async (output, error) =>
        {
            var path = parse.GetValue(file)!;
            string text;
            try
            {
                text = await File.ReadAllTextAsync(path.FullName, ct);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                await error.WriteLineAsync($"trellis: cannot read {path}: {e.Message}");
                return CliApp.Usage;
            }

            var json = path.Extension.Equals(".json", StringComparison.OrdinalIgnoreCase);
            var name = parse.GetValue(graph)!;
            using var client = ClusterClient.Create(parse);
            var content = new StringContent(text, Encoding.UTF8, json ? "application/json" : "text/x-fbp");
            var (_, setup) = await client.SendAsync(HttpMethod.Put, GraphPath(name), content, ct);
            if (parse.GetValue(wait))
            {
                var limit = TimeSpan.FromSeconds(parse.GetValue(timeout));
                var clock = Stopwatch.StartNew();
                while (Strings(setup, "pending") is { Count: > 0 } pending)
                {
                    if (clock.Elapsed >= limit)
                    {
                        await PrintAsync(output, error, setup);
                        await error.WriteLineAsync($"trellis: timed out after {limit.TotalSeconds:0.#}s; still waiting for {Participants(pending.Count)}: {string.Join(", ", pending)}");
                        return CliApp.Failed;
                    }

                    await Progress.LineAsync(parse, $"waiting for {Participants(pending.Count)}: {string.Join(", ", pending)} … {clock.Elapsed.TotalSeconds:0}s");
                    await Task.Delay(TimeSpan.FromSeconds(1), ct);
                    (_, setup) = await client.SendAsync(HttpMethod.Get, "/flows/setups/" + Escape(name), null, ct);
                }
            }

            return await PrintAsync(output, error, setup);
        }));
        return command;
    }

    private static async Task<int> PrintAsync(TextWriter output, TextWriter error, JsonElement setup)
    {
        foreach (var line in Strings(setup, "lines"))
        {
            await output.WriteLineAsync(line);
        }

        foreach (var pending in Strings(setup, "pending"))
        {
            await output.WriteLineAsync($"PENDING:\t {pending}");
        }

        var problems = Strings(setup, "problems");
        foreach (var problem in problems)
        {
            await error.WriteLineAsync($"trellis: not wired: {problem}");
        }

        return problems.Count == 0 ? CliApp.Ok : CliApp.Failed;
    }

    private static Command Send()
    {
        var queue = new Option<string>("--queue") { Description = "the queue (an inport's queue, such as repeat.IN)", Required = true };
        var data = new Option<string>("--json") { Description = "the message, as JSON", Required = true };
        data.Validators.Add(r =>
        {
            try
            {
                using var _ = JsonDocument.Parse(r.GetValue(data) ?? "");
            }
            catch (JsonException e)
            {
                r.AddError($"--json is not valid JSON: {e.Message}");
            }
        });
        var command = new Command("send", "Send a JSON message to a queue (msgflo-send-message)") { queue, data };
        command.SetAction((parse, ct) => ClusterClient.RunAsync(parse, async (output, _) =>
        {
            using var client = ClusterClient.Create(parse);
            var q = parse.GetValue(queue)!;
            await client.SendAsync(HttpMethod.Post, $"/flows/queues/{Uri.EscapeDataString(q)}/messages", ClusterClient.Json(parse.GetValue(data)!), ct);
            await output.WriteLineAsync($"sent to {q}");
            return CliApp.Ok;
        }));
        return command;
    }

    private static Command Dump()
    {
        var queue = new Option<string>("--queue") { Description = "the queue to take messages from", Required = true };
        var amount = new Option<int>("--amount") { Description = "how many messages to take (each is acknowledged)", DefaultValueFactory = _ => 1 };
        amount.Validators.Add(r =>
        {
            if (r.GetValue(amount) is < 1 or > 10_000)
            {
                r.AddError("--amount must be 1 to 10000");
            }
        });
        var timeout = new Option<double>("--timeout") { Description = "seconds to wait for them", DefaultValueFactory = _ => 30 };
        timeout.Validators.Add(r =>
        {
            if (r.GetValue(timeout) is <= 0 or > 600)
            {
                r.AddError("--timeout must be more than 0 and at most 600 seconds");
            }
        });
        var command = new Command("dump", "Take messages from a queue and print one JSON per line (msgflo-dump-message)") { queue, amount, timeout };
        command.SetAction((parse, ct) => ClusterClient.RunAsync(parse, async (output, error) =>
        {
            var q = parse.GetValue(queue)!;
            var n = parse.GetValue(amount);
            var seconds = parse.GetValue(timeout);
            using var client = ClusterClient.Create(parse, TimeSpan.FromSeconds(seconds + 30));
            var path = $"/flows/queues/{Uri.EscapeDataString(q)}/dump?amount={n}&timeout={seconds.ToString(CultureInfo.InvariantCulture)}s";
            var request = client.SendAsync(HttpMethod.Post, path, null, ct, HttpStatusCode.GatewayTimeout);
            var clock = Stopwatch.StartNew();
            while (await Task.WhenAny(request, Task.Delay(TimeSpan.FromSeconds(1), ct)) != request)
            {
                await Progress.LineAsync(parse, $"waiting for {n} message{(n == 1 ? "" : "s")} on {q} … {clock.Elapsed.TotalSeconds:0}s");
            }

            var (status, body) = await request;
            var messages = status == HttpStatusCode.GatewayTimeout && body.ValueKind == JsonValueKind.Object && body.TryGetProperty("messages", out var m) ? m : body;
            if (messages.ValueKind == JsonValueKind.Array)
            {
                foreach (var message in messages.EnumerateArray())
                {
                    await output.WriteLineAsync(message.GetRawText());
                }
            }

            if (status == HttpStatusCode.GatewayTimeout)
            {
                await error.WriteLineAsync($"trellis: {ClusterClient.ErrorMessage(body)}");
                return CliApp.Failed;
            }

            return CliApp.Ok;
        }));
        return command;
    }

    private static string GraphPath(string name) => "/flows/graphs/" + Escape(name);

    /// <summary>Escapes each segment of a graph name, keeping its '/'.</summary>
    private static string Escape(string name) => string.Join('/', name.Split('/').Select(Uri.EscapeDataString));

    private static string Participants(int count) => count == 1 ? "1 participant" : $"{count} participants";

    private static List<string> Strings(JsonElement body, string name) =>
        body.ValueKind == JsonValueKind.Object && body.TryGetProperty(name, out var array) && array.ValueKind == JsonValueKind.Array
            ? array.EnumerateArray().Select(static e => e.ValueKind == JsonValueKind.String ? e.GetString()! : e.GetRawText()).ToList()
            : [];
}
