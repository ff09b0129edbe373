using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Primitives;
using Trellis.Api.Errors;
using Trellis.Api.Proxy.Internal;
using Trellis.Core.Errors;
using Trellis.Core.Nodes;

namespace Trellis.Api.Proxy;

/// <summary>The handlers of the Gilmour proxy HTTP API (reference/systems.md §2.4): they read JSON bodies, call
/// <see cref="ProxyOperations"/> (shared with the gRPC API) and write JSON answers.</summary>
internal sealed class ProxyApi(ProxyOperations operations, ILogger<ProxyApi> logger, Flows.NodeParticipants? participants = null)
{
    public ILogger Logger { get; } = logger;

    public int MaxBodyBytes => operations.MaxBodyBytes;

    // ---------------------------------------------------------------- /nodes

    /// <summary><c>POST /nodes</c> → <c>{id, status, token}</c>.</summary>
    public async Task RegisterAsync(HttpContext context)
    {
        NodeRecord record;
        string token;
        using (var body = await RequestBodies.ReadObjectAsync(context, MaxBodyBytes))
        {
            // Ports are checked before the node exists, so a bad one refuses the registration whole.
            var ports = Flows.NodeParticipants.ParsePorts(body.RootElement);
            var registration = operations.Parse.Registration(body.RootElement) with { Flow = ports?.ToDeclaration() };
            (record, token) = await operations.RegisterAsync(registration, stream: null, context.RequestAborted);
            if (ports is not null && participants is not null)
            {
                await participants.AttachAsync(record, ports);
            }
        }

        await WriteAsync(context, StatusCodes.Status200OK, w =>
        {
            w.WriteString("id", record.Id);
            w.WriteString("status", record.Status.ToWire());
            w.WriteString("token", token);
        });
    }

    /// <summary><c>GET /nodes</c> → <c>{nodes: [{id, port, health_check, slots, services, status}, ...]}</c>: every node of
    /// the cluster, whichever gateway serves it. Needs the admin token when one is configured.</summary>
    public async Task ListNodesAsync(HttpContext context)
    {
        operations.AuthorizeAdmin(context.Request);
        var nodes = await operations.Registry.ListAsync(context.RequestAborted);
        await WriteAsync(context, StatusCodes.Status200OK, w =>
        {
            w.WriteStartArray("nodes");
            foreach (var node in nodes)
            {
                w.WriteStartObject();
                WriteNode(w, node);
                w.WriteEndObject();
            }

            w.WriteEndArray();
        });
    }

    /// <summary><c>GET /nodes/:id</c> → <c>{id, port, health_check, slots, services, status}</c>.</summary>
    public async Task GetNodeAsync(HttpContext context, string id)
    {
        var record = await operations.AuthorizeAsync(context.Request, id);
        await WriteAsync(context, StatusCodes.Status200OK, w => WriteNode(w, record));
    }

    private static void WriteNode(System.Text.Json.Utf8JsonWriter w, NodeRecord record)
    {
        w.WriteString("id", record.Id);
        if (!string.Equals(record.Host, NodeRecord.LoopbackHost, StringComparison.Ordinal))
        {
            w.WriteString("host", record.Host);
        }

        w.WriteNumber("port", record.Port);
        w.WriteString("health_check", record.HealthCheck);
        WriteSubscriptions(w, "slots", record.Slots);
        WriteSubscriptions(w, "services", record.Services);
        w.WriteString("status", record.Status.ToWire());
    }

    /// <summary><c>DELETE /nodes/:id</c> → <c>{status: "ok"}</c>.</summary>
    public async Task DeleteNodeAsync(HttpContext context, string id)
    {
        await operations.DeleteAsync(await operations.AuthorizeLocalAsync(context.Request, id));
        await WriteStatusAsync(context, "ok");
    }

    /// <summary><c>POST /nodes/:id/slots|services</c> <c>{topic, group, path, timeout}</c> → <c>{status}</c>.</summary>
    public async Task AddSubscriptionAsync(HttpContext context, string id, bool service)
    {
        var node = await operations.AuthorizeLocalAsync(context.Request, id);
        using (var body = await RequestBodies.ReadObjectAsync(context, MaxBodyBytes))
        {
            await operations.AddSubscriptionAsync(node, body.RootElement, service);
        }

        await WriteStatusAsync(context, "ok");
    }

    /// <summary><c>GET /nodes/:id/slots|services</c> → <c>{slots: [...]}</c> or <c>{services: [...]}</c>.</summary>
    public async Task ListSubscriptionsAsync(HttpContext context, string id, bool service)
    {
        var node = await operations.AuthorizeAsync(context.Request, id);
        await WriteAsync(context, StatusCodes.Status200OK, w =>
            WriteSubscriptions(w, service ? "services" : "slots", ProxyOperations.Subscriptions(node, service)));
    }

    /// <summary><c>DELETE /nodes/:id/slots|services?topic=&amp;path=</c> → <c>{status}</c>.</summary>
    public async Task RemoveSubscriptionsAsync(HttpContext context, string id, bool service)
    {
        var node = await operations.AuthorizeLocalAsync(context.Request, id);
        await operations.RemoveSubscriptionsAsync(node, service, Query(context, "topic"), Query(context, "path"));
        await WriteStatusAsync(context, "ok");
    }

    // ---------------------------------------------------------------- publishing

    /// <summary><c>POST /request/:id</c> <c>{topic | composition, message, timeout}</c> → <c>{messages, code, length}</c>, HTTP status = code.</summary>
    public async Task RequestAsync(HttpContext context, string id)
    {
        await operations.AuthorizeAsync(context.Request, id);
        Core.Compositions.CompositionResult result;
        using (var body = await RequestBodies.ReadObjectAsync(context, MaxBodyBytes))
        {
            result = await operations.RequestAsync(body.RootElement, context.RequestAborted);
        }

        var code = result.Code;
        await WriteAsync(context, code is >= 100 and <= 599 ? code : StatusCodes.Status500InternalServerError, w =>
        {
            w.WriteStartArray("messages");
            foreach (var message in result.Messages)
            {
                w.WriteStartObject();
                w.WritePropertyName("data");
                message.Data.WriteTo(w);
                w.WriteNumber("code", message.Code);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteNumber("code", code);
            w.WriteNumber("length", result.Length);
        });
    }

    /// <summary><c>POST /signal/:id</c> <c>{topic, message}</c> → <c>{status: "ok"}</c>; 503 when a slot's queue is full.</summary>
    public async Task SignalAsync(HttpContext context, string id)
    {
        await operations.AuthorizeAsync(context.Request, id);
        using (var body = await RequestBodies.ReadObjectAsync(context, MaxBodyBytes))
        {
            await operations.SignalAsync(body.RootElement, context.RequestAborted);
        }

        await WriteStatusAsync(context, "ok");
    }

    internal static string BearerToken(HttpRequest request) => ProxyOperations.BearerToken(request.Headers.Authorization);

    private static string? Query(HttpContext context, string name)
    {
        if (!context.Request.Query.TryGetValue(name, out StringValues values) || values.Count == 0)
        {
            return null;
        }

        if (values.Count > 1)
        {
            throw TrellisException.Invalid($"the query parameter {name} is given {values.Count} times; give it once");
        }

        return string.IsNullOrEmpty(values[0]) ? null : values[0];
    }

    // ---------------------------------------------------------------- writing

    private static Task WriteStatusAsync(HttpContext context, string status) =>
        WriteAsync(context, StatusCodes.Status200OK, w => w.WriteString("status", status));

    private static void WriteSubscriptions(Utf8JsonWriter w, string name, IReadOnlyList<NodeSubscription> subscriptions)
    {
        w.WritePropertyName(name);
        NodeSubscription.WriteArray(w, subscriptions);
    }

    private static async Task WriteAsync(HttpContext context, int status, Action<Utf8JsonWriter> fields)
    {
        var response = context.Response;
        response.StatusCode = status;
        response.ContentType = "application/json; charset=utf-8";
        response.Headers.CacheControl = "no-store";
        await using (var writer = new Utf8JsonWriter(response.BodyWriter, ResponseJson.WriterOptions))
        {
            writer.WriteStartObject();
            fields(writer);
            writer.WriteEndObject();
        }

        await response.BodyWriter.FlushAsync(context.RequestAborted);
    }
}
