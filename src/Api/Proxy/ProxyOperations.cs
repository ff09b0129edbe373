using System.Text.Json;
using Microsoft.AspNetCore.Http;
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

/// <summary>The operations of the node proxy, shared by the HTTP API (<see cref="ProxyApi"/>) and the gRPC API: one place
/// for authorisation, validation, limits and error messages. Each surface reads its own input form (JSON bodies, protobuf
/// messages) through <see cref="Parse"/>, whose rules and words are the same for both, and calls the typed operations.</summary>
internal sealed class ProxyOperations
{
    private readonly NodeRegistry _registry;
    private readonly ProxyRequests _parse;
    private readonly BusHost _busHost;
    private readonly MessagingOptions _messaging;
    private readonly byte[]? _adminTokenHash;

    public ProxyOperations(NodeRegistry registry, BusHost busHost, NodesOptions nodes, MessagingOptions messaging, SecurityOptions security)
    {
        _registry = registry;
        _busHost = busHost;
        _messaging = messaging;
        _parse = new ProxyRequests(nodes, messaging);
        MaxBodyBytes = nodes.MaxBodyBytes > 0 ? nodes.MaxBodyBytes : messaging.MaxPayloadBytes + EnvelopeAllowance;
        _adminTokenHash = security.AdminTokenHash();
    }

    /// <summary>Room for the fields around a message of the largest allowed size.</summary>
    public const int EnvelopeAllowance = 64 * 1024;

    /// <summary>The largest request body (HTTP) or request message (gRPC) accepted.</summary>
    public int MaxBodyBytes { get; }

    public NodeRegistry Registry => _registry;

    /// <summary>Validation of request bodies and messages into the operations' typed inputs.</summary>
    public ProxyRequests Parse => _parse;

    // ---------------------------------------------------------------- nodes

    /// <summary>Registers a node from a <c>POST /nodes</c> body; with <paramref name="stream"/> it is a stream node
    /// (no port, no health check, paths optional) served by that stream.</summary>
    public Task<(NodeRecord Record, string Token)> RegisterAsync(JsonElement body, NodeStream? stream, CancellationToken cancellationToken) =>
        RegisterAsync(_parse.Registration(body, streamNode: stream is not null), stream, cancellationToken);

    /// <summary>Registers a validated node; with <paramref name="stream"/> it is a stream node.</summary>
    public Task<(NodeRecord Record, string Token)> RegisterAsync(Registration registration, NodeStream? stream, CancellationToken cancellationToken) =>
        _registry.RegisterAsync(registration, stream, cancellationToken);

    public Task DeleteAsync(LiveNode node) => _registry.DeleteAsync(node);

    /// <summary>Adds a slot or service from a <c>{topic, group, path, timeout}</c> object.</summary>
    public Task AddSubscriptionAsync(LiveNode node, JsonElement body, bool service)
    {
        var subscription = _parse.Subscription(body, "", service, pathOptional: node.Record.IsStreamNode);
        return _registry.AddSubscriptionAsync(node, subscription, service);
    }

    /// <summary>Adds a validated slot or service.</summary>
    public Task AddSubscriptionAsync(LiveNode node, NodeSubscription subscription, bool service) =>
        _registry.AddSubscriptionAsync(node, subscription, service);

    public static IReadOnlyList<NodeSubscription> Subscriptions(NodeRecord node, bool service) =>
        service ? node.Services : node.Slots;

    /// <summary>Removes the node's slots or services on <paramref name="topic"/> (and <paramref name="path"/> when given).</summary>
    public Task<int> RemoveSubscriptionsAsync(LiveNode node, bool service, string? topic, string? path)
    {
        if (topic is null)
        {
            throw TrellisException.Invalid("the query parameter topic is required: DELETE ...?topic=<topic>[&path=<path>] (over gRPC: the field topic)");
        }

        TopicRules.ValidatePattern(topic, _messaging.MaxTopicLength, "topic");
        if (path is not null)
        {
            JsonFields.CallbackPath(path, "path");
        }

        return _registry.RemoveSubscriptionsAsync(node, service, topic, path);
    }

    // ---------------------------------------------------------------- publishing

    /// <summary>Runs a <c>{topic | composition, message, timeout}</c> request; blocks until the reply or the timeout.</summary>
    public Task<CompositionResult> RequestAsync(JsonElement body, CancellationToken cancellationToken) =>
        RequestAsync(_parse.Request(body), cancellationToken);

    /// <summary>Runs a validated request; blocks until the reply or the timeout.</summary>
    public async Task<CompositionResult> RequestAsync(PublishRequest request, CancellationToken cancellationToken)
    {
        var bus = await _busHost.Started;
        return request.Topic is { } topic
            ? new CompositionResult([await bus.RequestAsync(topic, request.Message, request.Timeout, cancellationToken)])
            : await bus.ExecuteAsync(request.Composition!, request.Message, request.Timeout, cancellationToken);
    }

    /// <summary>Publishes a <c>{topic, message}</c> signal; unavailable when a slot's queue is full.</summary>
    public Task SignalAsync(JsonElement body, CancellationToken cancellationToken) => SignalAsync(_parse.Signal(body), cancellationToken);

    /// <summary>Publishes a validated signal; unavailable when a slot's queue is full.</summary>
    public async Task SignalAsync((string Topic, JsonPayload Message) signal, CancellationToken cancellationToken)
    {
        var bus = await _busHost.Started;
        var status = await bus.SignalAsync(signal.Topic, signal.Message, cancellationToken);
        if (status == PublishStatus.QueueFull)
        {
            throw new TrellisException(ErrorKind.Unavailable, $"a slot's queue for '{signal.Topic}' is full; try again later");
        }
    }

    // ---------------------------------------------------------------- auth

    /// <summary>The record of node <paramref name="id"/>, wherever in the cluster it is served, if the request's bearer
    /// token (HTTP header or gRPC metadata, both <c>authorization</c>) is that node's or the admin token.</summary>
    public async Task<NodeRecord> AuthorizeAsync(HttpRequest request, string id)
    {
        await CheckTokenAsync(request, id).ConfigureAwait(false);
        return (NodeCredentials.IsWellFormedId(id) ? await _registry.RecordAsync(id, request.HttpContext.RequestAborted).ConfigureAwait(false) : null)
            ?? throw new TrellisException(ErrorKind.NotFound, NotFoundMessage(id));
    }

    /// <summary>Node <paramref name="id"/> as this gateway serves it (its subscriptions and callbacks live here), if the
    /// token is that node's or the admin token; a node served by another gateway is managed there.</summary>
    public async Task<LiveNode> AuthorizeLocalAsync(HttpRequest request, string id)
    {
        await CheckTokenAsync(request, id).ConfigureAwait(false);
        if (NodeCredentials.IsWellFormedId(id) && _registry.Find(id) is { } node)
        {
            return node;
        }

        if (NodeCredentials.IsWellFormedId(id) && await _registry.RecordAsync(id, request.HttpContext.RequestAborted).ConfigureAwait(false) is not null)
        {
            throw new TrellisException(ErrorKind.FailedPrecondition,
                $"node {id} is served by another gateway (the one it registered at): change its slots and services or delete it there");
        }

        throw new TrellisException(ErrorKind.NotFound, NotFoundMessage(id));
    }

    /// <summary>Lets only the admin token through when one is configured (open otherwise, like registration).</summary>
    public void AuthorizeAdmin(HttpRequest request)
    {
        if (_adminTokenHash is null)
        {
            return;
        }

        if (!PresentedToken.Of(request.HttpContext, BearerToken(request.Headers.Authorization)).Matches(_adminTokenHash))
        {
            throw new TrellisException(ErrorKind.PermissionDenied, "listing every node needs the admin token");
        }
    }

    private async Task CheckTokenAsync(HttpRequest request, string id)
    {
        var token = PresentedToken.Of(request.HttpContext, BearerToken(request.Headers.Authorization));
        if (token.Matches(_adminTokenHash))
        {
            return;
        }

        var owner = await _registry.NodeIdForTokenAsync(token, request.HttpContext.RequestAborted).ConfigureAwait(false)
            ?? throw ApiException.Unauthenticated("the bearer token is not valid: it is unknown, or its node was deleted", "invalid_token");
        if (!string.Equals(owner, id, StringComparison.Ordinal))
        {
            throw new TrellisException(ErrorKind.PermissionDenied, "this token belongs to another node: a node may only manage itself and publish as itself");
        }
    }

    private static string NotFoundMessage(string id) => NodeCredentials.IsWellFormedId(id)
        ? $"no node with id {id}"
        : $"no node with id {JsonFields.Quote(id)} (node ids are 32 lowercase hex characters)";

    internal static string BearerToken(StringValues values)
    {
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
}
