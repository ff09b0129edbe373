using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Primitives;
using Trellis.Api.Errors;
using Trellis.Api.Proxy.Internal;
using Trellis.Core.Bus;
using Trellis.Core.Compositions;
using Trellis.Core.Errors;
using Trellis.Core.Messaging;
using Trellis.Core.Nodes;
using Trellis.Core.Topics;
using Trellis.Core.Transport;
using Trellis.Hosting.Messaging;

namespace Trellis.Api.Proxy;

/// <summary>The handlers of the Gilmour proxy HTTP API (reference/systems.md §2.4).</summary>
internal sealed class ProxyApi
{
    private readonly NodeRegistry _registry;
    private readonly ProxyRequests _parse;
    private readonly BusHost _busHost;
    private readonly MessagingOptions _messaging;
    private readonly byte[]? _adminTokenHash;

    public ProxyApi(NodeRegistry registry, BusHost busHost, NodesOptions nodes, MessagingOptions messaging, SecurityOptions security, ILogger<ProxyApi> logger)
    {
        _registry = registry;
        _busHost = busHost;
        _messaging = messaging;
        _parse = new ProxyRequests(nodes, messaging);
        Logger = logger;
        MaxBodyBytes = nodes.MaxBodyBytes > 0 ? nodes.MaxBodyBytes : messaging.MaxPayloadBytes + EnvelopeAllowance;
        _adminTokenHash = security.AdminToken is { Length: > 0 } admin ? SHA256.HashData(Encoding.UTF8.GetBytes(admin)) : null;
    }

    /// <summary>Room for the fields around a message of the largest allowed size.</summary>
    public const int EnvelopeAllowance = 64 * 1024;

    public ILogger Logger { get; }

    public int MaxBodyBytes { get; }

    // ---------------------------------------------------------------- /nodes

    /// <summary><c>POST /nodes</c> → <c>{id, status, token}</c>.</summary>
    public async Task RegisterAsync(HttpContext context)
    {
        Registration registration;
        using (var body = await RequestBodies.ReadObjectAsync(context, MaxBodyBytes))
        {
            registration = _parse.Registration(body.RootElement);
        }

        var (record, token) = await _registry.RegisterAsync(registration, context.RequestAborted);
        await WriteAsync(context, StatusCodes.Status200OK, w =>
        {
            w.WriteString("id", record.Id);
            w.WriteString("status", record.Status.ToWire());
            w.WriteString("token", token);
        });
    }

    /// <summary><c>GET /nodes/:id</c> → <c>{id, port, health_check, slots, services, status}</c>.</summary>
    public Task GetNodeAsync(HttpContext context, string id)
    {
        var record = Authorize(context, id).Record;
        return WriteAsync(context, StatusCodes.Status200OK, w =>
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
        });
    }

    /// <summary><c>DELETE /nodes/:id</c> → <c>{status: "ok"}</c>.</summary>
    public async Task DeleteNodeAsync(HttpContext context, string id)
    {
        await _registry.DeleteAsync(Authorize(context, id));
        await WriteStatusAsync(context, "ok");
    }

    /// <summary><c>POST /nodes/:id/slots|services</c> <c>{topic, group, path, timeout}</c> → <c>{status}</c>.</summary>
    public async Task AddSubscriptionAsync(HttpContext context, string id, bool service)
    {
        var node = Authorize(context, id);
        NodeSubscription subscription;
        using (var body = await RequestBodies.ReadObjectAsync(context, MaxBodyBytes))
        {
            subscription = _parse.Subscription(body.RootElement, "", service);
        }

        await _registry.AddSubscriptionAsync(node, subscription, service);
        await WriteStatusAsync(context, "ok");
    }

    /// <summary><c>GET /nodes/:id/slots|services</c> → <c>{slots: [...]}</c> or <c>{services: [...]}</c>.</summary>
    public Task ListSubscriptionsAsync(HttpContext context, string id, bool service)
    {
        var record = Authorize(context, id).Record;
        return WriteAsync(context, StatusCodes.Status200OK, w =>
            WriteSubscriptions(w, service ? "services" : "slots", service ? record.Services : record.Slots));
    }

    /// <summary><c>DELETE /nodes/:id/slots|services?topic=&amp;path=</c> → <c>{status}</c>.</summary>
    public async Task RemoveSubscriptionsAsync(HttpContext context, string id, bool service)
    {
        var node = Authorize(context, id);
        var topic = Query(context, "topic") ?? throw TrellisException.Invalid("the query parameter topic is required: DELETE ...?topic=<topic>[&path=<path>]");
        TopicRules.ValidatePattern(topic, _messaging.MaxTopicLength, "topic");
        var path = Query(context, "path");
        if (path is not null)
        {
            JsonFields.CallbackPath(path, "path");
        }

        await _registry.RemoveSubscriptionsAsync(node, service, topic, path);
        await WriteStatusAsync(context, "ok");
    }

    // ---------------------------------------------------------------- publishing

    /// <summary><c>POST /request/:id</c> <c>{topic | composition, message, timeout}</c> → <c>{messages, code, length}</c>, HTTP status = code.</summary>
    public async Task RequestAsync(HttpContext context, string id)
    {
        Authorize(context, id);
        PublishRequest request;
        using (var body = await RequestBodies.ReadObjectAsync(context, MaxBodyBytes))
        {
            request = _parse.Request(body.RootElement);
        }

        var bus = await _busHost.Started;
        var result = request.Topic is { } topic
            ? new CompositionResult([await bus.RequestAsync(topic, request.Message, request.Timeout, context.RequestAborted)])
            : await bus.ExecuteAsync(request.Composition!, request.Message, request.Timeout, context.RequestAborted);

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
        Authorize(context, id);
        (string Topic, JsonPayload Message) signal;
        using (var body = await RequestBodies.ReadObjectAsync(context, MaxBodyBytes))
        {
            signal = _parse.Signal(body.RootElement);
        }

        var bus = await _busHost.Started;
        var status = await bus.SignalAsync(signal.Topic, signal.Message, context.RequestAborted);
        if (status == PublishStatus.QueueFull)
        {
            throw new TrellisException(ErrorKind.Unavailable, $"a slot's queue for '{signal.Topic}' is full; try again later");
        }

        await WriteStatusAsync(context, "ok");
    }

    // ---------------------------------------------------------------- auth

    /// <summary>The node <paramref name="id"/>, if the bearer token is that node's or the admin token.</summary>
    private LiveNode Authorize(HttpContext context, string id)
    {
        var token = BearerToken(context.Request);
        if (_adminTokenHash is not null && CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(token)), _adminTokenHash))
        {
            return (NodeCredentials.IsWellFormedId(id) ? _registry.Find(id) : null)
                ?? throw new TrellisException(ErrorKind.NotFound, NotFoundMessage(id));
        }

        var owner = _registry.NodeIdForToken(token)
            ?? throw ApiException.Unauthenticated("the bearer token is not valid: it is unknown, or its node was deleted", "invalid_token");
        if (!string.Equals(owner, id, StringComparison.Ordinal))
        {
            throw new TrellisException(ErrorKind.PermissionDenied, "this token belongs to another node: a node may only manage itself and publish as itself");
        }

        return _registry.Find(id) ?? throw new TrellisException(ErrorKind.NotFound, NotFoundMessage(id));
    }

    private static string NotFoundMessage(string id) => NodeCredentials.IsWellFormedId(id)
        ? $"no node with id {id}"
        : $"no node with id {JsonFields.Quote(id)} (node ids are 32 lowercase hex characters)";

    internal static string BearerToken(HttpRequest request)
    {
        var values = request.Headers.Authorization;
        if (values.Count == 0)
        {
            throw ApiException.Unauthenticated("Authorization: Bearer <token> is required (the token returned by POST /nodes, or the admin token)");
        }

        if (values.Count > 1)
        {
            throw ApiException.Unauthenticated("send one Authorization header", "invalid_request");
        }

        var header = values[0] ?? "";
        const string Scheme = "Bearer ";
        if (!header.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase))
        {
            throw ApiException.Unauthenticated("the Authorization header must use the Bearer scheme: Authorization: Bearer <token>", "invalid_request");
        }

        var token = header.AsSpan(Scheme.Length).Trim();
        if (token.IsEmpty || token.Length > 512 || token.ContainsAny(' ', '\t'))
        {
            throw ApiException.Unauthenticated("the bearer token is empty or malformed", "invalid_token");
        }

        return token.ToString();
    }

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
