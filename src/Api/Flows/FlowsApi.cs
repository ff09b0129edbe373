using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Net.Http.Headers;
using Trellis.Api.Errors;
using static Trellis.Api.Errors.HttpExchange;
using Trellis.Api.Flows.Internal;
using Trellis.Core.Errors;
using Trellis.Flows.Graphs;

namespace Trellis.Api.Flows;

/// <summary>The handlers of the flows HTTP API: participants, graphs (get, set from .fbp or JSON, clear) and msgflo's
/// send and dump on queues.</summary>
internal sealed class FlowsApi(FlowOperations operations, NodeParticipants participants, Proxy.ProxyOperations proxy, ILogger<FlowsApi> logger)
{
    public ILogger Logger { get; } = logger;

    /// <summary><c>GET /flows/participants</c> → <c>[{id, role, component, label, icon, inports, outports, firstSeen, lastSeen, status}]</c>.</summary>
    public async Task ListParticipantsAsync(HttpContext context)
    {
        operations.Authorize(context.Request);
        var participants = await operations.Networks.ListParticipantsAsync(context.RequestAborted);
        await WriteAsync(context, StatusCodes.Status200OK, w =>
        {
            w.WriteStartArray();
            foreach (var p in participants)
            {
                FlowsJson.WriteParticipant(w, p);
            }

            w.WriteEndArray();
        });
    }

    /// <summary><c>GET /flows/graphs</c> → <c>["default/main", ...]</c>.</summary>
    public async Task ListGraphsAsync(HttpContext context)
    {
        operations.Authorize(context.Request);
        var names = await operations.Networks.ListGraphsAsync(context.RequestAborted);
        await WriteAsync(context, StatusCodes.Status200OK, w =>
        {
            w.WriteStartArray();
            foreach (var name in names)
            {
                w.WriteStringValue(name);
            }

            w.WriteEndArray();
        });
    }

    /// <summary><c>GET /flows/graphs/{name}</c> → the graph as the <c>fbp</c> parser prints it.</summary>
    public async Task GetGraphAsync(HttpContext context, string name)
    {
        operations.Authorize(context.Request);
        var graph = await operations.Networks.GetGraphAsync(FlowOperations.GraphName(name), context.RequestAborted);
        await WriteAsync(context, StatusCodes.Status200OK, w => graph.ToJsonNode().WriteTo(w));
    }

    /// <summary><c>PUT /flows/graphs/{name}</c> with .fbp text (text/plain, text/x-fbp) or a JSON graph (application/json)
    /// → the setup: <c>{bindings, lines, pending, problems}</c>.</summary>
    public async Task SetGraphAsync(HttpContext context, string name)
    {
        operations.Authorize(context.Request);
        name = FlowOperations.GraphName(name);
        var body = await ReadTextAsync(context, operations.MaxBodyBytes);
        var graph = FlowOperations.ParseGraph(body, IsJson(context.Request.ContentType, body));
        var setup = await operations.Networks.SetGraphAsync(name, graph, context.RequestAborted);
        await WriteAsync(context, StatusCodes.Status200OK, w => FlowsJson.WriteSetup(w, setup));
    }

    /// <summary><c>GET /flows/setups/{name}</c> → the graph's wiring now: <c>{bindings, lines, pending, problems}</c>.</summary>
    public async Task GetSetupAsync(HttpContext context, string name)
    {
        operations.Authorize(context.Request);
        var setup = await operations.Networks.GetSetupAsync(FlowOperations.GraphName(name), context.RequestAborted);
        await WriteAsync(context, StatusCodes.Status200OK, w => FlowsJson.WriteSetup(w, setup));
    }

    /// <summary><c>DELETE /flows/graphs/{name}</c>: empties the graph and unwires it → the (empty) setup.</summary>
    public async Task ClearGraphAsync(HttpContext context, string name)
    {
        operations.Authorize(context.Request);
        var setup = await operations.Networks.SetGraphAsync(FlowOperations.GraphName(name), new FlowGraph(), context.RequestAborted);
        await WriteAsync(context, StatusCodes.Status200OK, w => FlowsJson.WriteSetup(w, setup));
    }

    /// <summary><c>POST /flows/queues/{queue}/messages</c> with a JSON body → 202 <c>{queue}</c>.</summary>
    public async Task SendAsync(HttpContext context, string queue)
    {
        operations.Authorize(context.Request);
        queue = FlowOperations.QueueName(queue);
        var body = await ReadTextAsync(context, operations.MaxBodyBytes);
        byte[] bytes;
        try
        {
            using var doc = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 64 });
            bytes = Encoding.UTF8.GetBytes(body);
        }
        catch (JsonException e)
        {
            throw TrellisException.Invalid($"the message is not valid JSON: {e.Message}");
        }

        await operations.SendAsync(queue, bytes, context.RequestAborted);
        await WriteAsync(context, StatusCodes.Status202Accepted, w =>
        {
            w.WriteStartObject();
            w.WriteString("queue", queue);
            w.WriteEndObject();
        });
    }

    /// <summary><c>POST /flows/queues/{queue}/dump?amount=N&amp;timeout=30s</c> → the messages as a JSON array; 504 with
    /// <c>{error, messages}</c> when the timeout passes first.</summary>
    public async Task DumpAsync(HttpContext context, string queue)
    {
        operations.Authorize(context.Request);
        queue = FlowOperations.QueueName(queue);
        var amountText = Query(context, "amount");
        long amount = 1;
        if (amountText is not null && !long.TryParse(amountText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out amount))
        {
            throw TrellisException.Invalid($"amount must be a whole number from 1 to {FlowOperations.MaxDumpAmount} (was {FlowOperations.Quote(amountText)})");
        }

        if (amountText is not null && amount == 0)
        {
            throw TrellisException.Invalid($"amount must be a whole number from 1 to {FlowOperations.MaxDumpAmount} (was 0)");
        }

        var count = FlowOperations.DumpAmount(amount);
        var timeout = FlowOperations.DumpTimeout(Query(context, "timeout"));
        var messages = new List<byte[]>();
        var complete = await operations.DumpAsync(queue, count, timeout, (m, _) =>
        {
            messages.Add(m.ToArray());
            return ValueTask.CompletedTask;
        }, context.RequestAborted);

        void WriteMessages(Utf8JsonWriter w)
        {
            w.WriteStartArray();
            foreach (var m in messages)
            {
                FlowsJson.WriteBody(w, m);
            }

            w.WriteEndArray();
        }

        if (complete)
        {
            await WriteAsync(context, StatusCodes.Status200OK, WriteMessages);
            return;
        }

        await WriteAsync(context, StatusCodes.Status504GatewayTimeout, w =>
        {
            w.WriteStartObject();
            w.WriteStartObject("error");
            w.WriteString("code", ErrorTable.CodeName(ErrorKind.DeadlineExceeded));
            w.WriteString("message", $"got {messages.Count} of {count} messages from queue {FlowOperations.Quote(queue)} within {timeout.TotalSeconds}s");
            w.WriteEndObject();
            w.WritePropertyName("messages");
            WriteMessages(w);
            w.WriteEndObject();
        });
    }

    /// <summary><c>POST /nodes/{id}/outports/{port}</c> with a JSON body (the node's token): publishes on the node's outport
    /// exchange → <c>{status: "ok"}</c>.</summary>
    public async Task SendOnOutportAsync(HttpContext context, string nodeId, string port)
    {
        await proxy.AuthorizeAsync(context.Request, nodeId);
        var body = await ReadTextAsync(context, operations.MaxBodyBytes);
        try
        {
            using var doc = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException e)
        {
            throw TrellisException.Invalid($"the message is not valid JSON: {e.Message}");
        }

        await participants.PublishAsync(nodeId, port, Encoding.UTF8.GetBytes(body), context.RequestAborted);
        await WriteAsync(context, StatusCodes.Status200OK, w =>
        {
            w.WriteStartObject();
            w.WriteString("status", "ok");
            w.WriteEndObject();
        });
    }

    /// <summary>JSON when declared so (or undeclared and starting with '{'); .fbp for text/plain and text/x-fbp; 415 otherwise.</summary>
    private static bool IsJson(string? contentType, string body)
    {
        if (string.IsNullOrEmpty(contentType))
        {
            return body.TrimStart().StartsWith('{');
        }

        if (!MediaTypeHeaderValue.TryParse(contentType, out var media))
        {
            throw ApiException.UnsupportedMediaType($"Content-Type {FlowOperations.Quote(contentType)} cannot be read; use text/x-fbp, text/plain or application/json");
        }

        var type = media.MediaType.Value ?? "";
        if (type.Equals("application/json", StringComparison.OrdinalIgnoreCase) || type.EndsWith("+json", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        if (type.Equals("text/plain", StringComparison.OrdinalIgnoreCase) || type.Equals("text/x-fbp", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        throw ApiException.UnsupportedMediaType($"Content-Type {FlowOperations.Quote(type)} is not a graph: send .fbp as text/x-fbp or text/plain, a JSON graph as application/json");
    }

    private static async Task<string> ReadTextAsync(HttpContext context, int maxBytes)
    {
        using var buffer = await HttpExchange.ReadBodyAsync(context, maxBytes);

        if (buffer.Length == 0)
        {
            throw TrellisException.Invalid("request body is empty");
        }

        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
        }
        catch (DecoderFallbackException)
        {
            throw TrellisException.Invalid("request body is not valid UTF-8");
        }
    }
}
