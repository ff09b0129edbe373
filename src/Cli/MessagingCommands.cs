using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Trellis.Cli;

/// <summary><c>trellis request|signal|compose</c>: messages on the cluster's bus, sent on behalf of the cluster (<c>POST
/// /cluster/request</c>, <c>POST /cluster/signal</c>: the admin token, or loopback when the gateway has none), so no node
/// needs registering for them. A reply code of 300 or more is exit 1.</summary>
internal static class MessagingCommands
{
    public static IEnumerable<Command> Create() => [Request(), Signal(), Compose()];

    private static Command Request()
    {
        var topic = new Argument<string>("topic") { Description = "the service's topic" };
        var data = DataInput.Option("the request's message");
        var timeout = TimeoutOption();
        var format = OutputFormat.Create(OutputFormat.Json);
        var command = new Command("request", "Send a request to a service and print the reply's data (a reply code of 300 or more is exit 1)") { topic, data, timeout, format };
        command.SetAction((parse, ct) => ClusterClient.RunAsync(parse, async (_, error) =>
        {
            var name = parse.GetValue(topic)!;
            var body = new JsonObject { ["topic"] = name };
            var result = await PublishAsync(parse, body, data, timeout, $"the reply to {name}", ct);
            var first = result.TryGetProperty("messages", out var messages) && messages.ValueKind == JsonValueKind.Array && messages.GetArrayLength() > 0 ? messages[0] : default;
            var replyData = first.ValueKind == JsonValueKind.Object && first.TryGetProperty("data", out var d) ? d : default;
            var code = Code(result);
            if (code >= 300)
            {
                await error.WriteLineAsync($"trellis: {name} answered {code}: {Text(replyData)}");
                return CliApp.Failed;
            }

            await OutputFormat.WriteAsync(parse, format, replyData.ValueKind == JsonValueKind.Undefined ? JsonSerializer.SerializeToElement<object?>(null) : replyData);
            return CliApp.Ok;
        }));
        return command;
    }

    private static Command Compose()
    {
        var composition = new Argument<string>("composition")
        {
            Description = "the composition, as JSON ({\"pipe\": [{\"topic\": …}, …]}, andand, oror, batch, parallel), @FILE or @- for stdin",
        };
        var data = DataInput.Option("the message given to the first step");
        var timeout = TimeoutOption();
        var format = OutputFormat.Create(OutputFormat.Json);
        var command = new Command("compose", "Run a composition of requests and print {messages, code, length} (a code of 300 or more is exit 1)") { composition, data, timeout, format };
        command.SetAction((parse, ct) => ClusterClient.RunAsync(parse, async (_, error) =>
        {
            var text = await DataInput.ReadAsync(parse.GetValue(composition)!, "the composition", ct);
            var body = new JsonObject { ["composition"] = JsonNode.Parse(text) };
            var result = await PublishAsync(parse, body, data, timeout, "the composition's replies", ct);
            await OutputFormat.WriteAsync(parse, format, result);
            var code = Code(result);
            if (code >= 300)
            {
                await error.WriteLineAsync($"trellis: the composition ended with code {code}");
                return CliApp.Failed;
            }

            return CliApp.Ok;
        }));
        return command;
    }

    private static Command Signal()
    {
        var topic = new Argument<string>("topic") { Description = "the signal's topic (every slot matching it gets a copy)" };
        var data = DataInput.Option("the signal's message");
        var format = OutputFormat.Create(OutputFormat.Json);
        var command = new Command("signal", "Publish a signal to the slots of a topic (fire and forget)") { topic, data, format };
        command.SetAction((parse, ct) => ClusterClient.RunAsync(parse, async (_, _) =>
        {
            var body = new JsonObject { ["topic"] = parse.GetValue(topic)! };
            if (await DataInput.ReadAsync(parse, data, ct) is { } message)
            {
                body["message"] = JsonNode.Parse(message);
            }

            using var client = ClusterClient.Create(parse);
            var (_, answer) = await client.SendAsync(HttpMethod.Post, "/cluster/signal", ClusterClient.Json(body.ToJsonString()), ct);
            await OutputFormat.WriteAsync(parse, format, answer);
            return CliApp.Ok;
        }));
        return command;
    }

    private static Option<double?> TimeoutOption()
    {
        var timeout = new Option<double?>("--timeout") { Description = "seconds to wait for the reply (default: the gateway's, 30 s unless configured)" };
        timeout.Validators.Add(r =>
        {
            if (r.GetValue(timeout) is <= 0 or > 3600)
            {
                r.AddError("--timeout must be more than 0 and at most 3600 seconds");
            }
        });
        return timeout;
    }

    /// <summary>Posts a request or composition with its message and timeout; the answer in the <c>{messages, code, length}</c>
    /// shape whatever its code (a gateway error, such as a bad topic or token, is exit 1 with its message).</summary>
    private static async Task<JsonElement> PublishAsync(
        ParseResult parse, JsonObject body, Option<string?> data, Option<double?> timeout, string waitingFor, CancellationToken cancellationToken)
    {
        if (await DataInput.ReadAsync(parse, data, cancellationToken) is { } message)
        {
            body["message"] = JsonNode.Parse(message);
        }

        var seconds = parse.GetValue(timeout);
        if (seconds is { } s)
        {
            body["timeout"] = s;
        }

        using var client = ClusterClient.Create(parse, TimeSpan.FromSeconds((seconds ?? 3600) + 30));
        await using var progress = Progress.Start(parse, elapsed => $"waiting for {waitingFor} … {elapsed.TotalSeconds.ToString("0", CultureInfo.InvariantCulture)}s");
        var (status, result) = await client.SendAsync(HttpMethod.Post, "/cluster/request", ClusterClient.Json(body.ToJsonString()),
            static _ => true, cancellationToken);
        if (result.ValueKind != JsonValueKind.Object || !result.TryGetProperty("messages", out _))
        {
            throw new CliException(CliApp.Failed, $"{(int)status} {ClusterClient.ErrorMessage(result)}");
        }

        return result;
    }

    private static int Code(JsonElement result) =>
        result.TryGetProperty("code", out var c) && c.TryGetInt32(out var code) ? code : (int)HttpStatusCode.InternalServerError;

    private static string Text(JsonElement data) =>
        data.ValueKind == JsonValueKind.String ? data.GetString()! : data.ValueKind == JsonValueKind.Undefined ? "(no data)" : data.GetRawText();
}
