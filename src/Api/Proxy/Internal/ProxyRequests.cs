using System.Runtime.InteropServices;
using System.Text.Json;
using Google.Protobuf.WellKnownTypes;
using Trellis.Api.Errors;
using Trellis.Api.Grpc.Internal;
using Trellis.Core.Bus;
using Trellis.Core.Compositions;
using Trellis.Core.Errors;
using Trellis.Core.Messaging;
using Trellis.Core.Nodes;
using Trellis.Core.Topics;

using V1 = Trellis.Contracts.V1;

namespace Trellis.Api.Proxy.Internal;

/// <summary>A validated <c>POST /nodes</c> body.</summary>
internal sealed record Registration(string Host, int Port, string HealthCheck, IReadOnlyList<NodeSubscription> Slots, IReadOnlyList<NodeSubscription> Services,
    NodeFlowDeclaration? Flow = null);

/// <summary>A validated <c>POST /request/:id</c> body: a topic or a composition, the message and the timeout.</summary>
internal sealed record PublishRequest(string? Topic, Composition? Composition, JsonPayload Message, TimeSpan? Timeout);

/// <summary>Turns request bodies into validated values; every refusal names the field.</summary>
internal sealed class ProxyRequests(NodesOptions nodes, MessagingOptions messaging)
{
    // role, component, inports and outports make the node a flow participant (read by Flows.NodeParticipants).
    private static readonly string[] RegistrationFields = ["port", "health_check", "host", "slots", "services", "role", "component", "inports", "outports"];
    private static readonly string[] SubscriptionFields = ["topic", "group", "path", "timeout"];
    private static readonly string[] RequestFields = ["topic", "composition", "message", "timeout"];
    private static readonly string[] SignalFields = ["topic", "message"];

    /// <summary>A <c>POST /nodes</c> body; a <paramref name="streamNode"/> is served by its gRPC stream, so it has no port,
    /// host or health check, and its subscriptions need no path.</summary>
    public Registration Registration(JsonElement body, bool streamNode = false)
    {
        var fields = JsonFields.Fields(body, "", RegistrationFields);
        if (streamNode)
        {
            foreach (var name in (ReadOnlySpan<string>)["port", "health_check", "host"])
            {
                if (fields.TryGetValue(name, out var value) && value.ValueKind != JsonValueKind.Null)
                {
                    throw NotForStreamNodes(name);
                }
            }
        }

        var port = streamNode ? 0 : JsonFields.RequirePort(fields, "port");
        var health = JsonFields.OptionalString(fields, "health_check", "health_check");
        var host = JsonFields.OptionalString(fields, "host", "host");
        var slotItems = JsonFields.OptionalArray(fields, "slots", out var slotCount);
        var serviceItems = JsonFields.OptionalArray(fields, "services", out var serviceCount);
        return Registration(port, health, host, slotItems, slotCount, serviceItems, serviceCount, streamNode,
            (item, where, service, pathOptional) => Subscription(item, where, service, pathOptional));
    }

    /// <summary>A gRPC <c>RegisterNodeRequest</c>, with the rules and words of <c>POST /nodes</c> (an unset field is a
    /// missing one).</summary>
    public Registration Registration(V1.RegisterNodeRequest request, bool streamNode = false)
    {
        if (streamNode)
        {
            var set = request.Port != 0 ? "port" : request.HealthCheck.Length > 0 ? "health_check" : request.Host.Length > 0 ? "host" : null;
            if (set is not null)
            {
                throw NotForStreamNodes(set);
            }
        }

        var port = streamNode ? 0 : request.Port switch
        {
            0 => throw TrellisException.Invalid(JsonFields.PortRequired("port")),
            < 1 or > 65535 => throw TrellisException.Invalid($"port must be an integer between 1 and 65535, not the number {request.Port}"),
            _ => request.Port,
        };
        return Registration(port, NullIfEmpty(request.HealthCheck), NullIfEmpty(request.Host), request.Slots, request.Slots.Count,
            request.Services, request.Services.Count, streamNode, (item, where, service, pathOptional) => Subscription(item, where, service, pathOptional));
    }

    private Registration Registration<T>(
        int port, string? healthCheck, string? host, IEnumerable<T> slotItems, int slotCount, IEnumerable<T> serviceItems, int serviceCount,
        bool streamNode, Func<T, string, bool, bool, NodeSubscription> subscription)
    {
        var health = streamNode ? "" : healthCheck is { } given ? JsonFields.CallbackPath(given, "health_check") : NodeRecord.DefaultHealthCheck;
        host ??= NodeRecord.LoopbackHost;
        if (!nodes.IsAllowedHost(host))
        {
            throw new TrellisException(ErrorKind.PermissionDenied, $"host {JsonFields.Quote(host)} is not allowed: nodes are called on {NodeRecord.LoopbackHost} unless Trellis:Nodes:AllowedHosts lists another host");
        }

        if (slotCount + serviceCount > nodes.MaxSubscriptionsPerNode)
        {
            throw TrellisException.Invalid($"a node may hold at most {nodes.MaxSubscriptionsPerNode} slots and services together (Trellis:Nodes:MaxSubscriptionsPerNode); this one asks for {slotCount + serviceCount}");
        }

        var slots = new List<NodeSubscription>(slotCount);
        foreach (var item in slotItems)
        {
            slots.Add(subscription(item, $"slots[{slots.Count}]", false, streamNode));
        }

        var services = new List<NodeSubscription>(serviceCount);
        foreach (var item in serviceItems)
        {
            services.Add(subscription(item, $"services[{services.Count}]", true, streamNode));
        }

        CheckDuplicates(slots, "slots", service: false);
        CheckDuplicates(services, "services", service: true);
        return new Registration(host, port, health, slots, services);
    }

    private static TrellisException NotForStreamNodes(string name) =>
        TrellisException.Invalid($"{name} must not be set when registering on a Connect stream: the gateway sends a stream node its calls on the stream, and the stream is its health check");

    /// <summary>One slot or service: <c>{topic, group, path, timeout}</c>; <paramref name="where"/> prefixes field names ("" for a whole body).
    /// A stream node's subscriptions may leave the path out (<paramref name="pathOptional"/>): it is then "".</summary>
    public NodeSubscription Subscription(JsonElement item, string where, bool service, bool pathOptional = false)
    {
        if (item.ValueKind != JsonValueKind.Object)
        {
            throw TrellisException.Invalid($"{(where.Length == 0 ? "request body" : where)} must be an object with topic, group, path and timeout, not {JsonFields.Describe(item)}");
        }

        var fields = JsonFields.Fields(item, where, SubscriptionFields);
        var topicField = JsonFields.Field(where, "topic");
        var topic = JsonFields.RequireString(fields, "topic", topicField);
        JsonFields.Topic(topic, topicField, messaging.MaxTopicLength, pattern: !service);
        var group = JsonFields.OptionalString(fields, "group", JsonFields.Field(where, "group"));
        var pathField = JsonFields.Field(where, "path");
        var path = JsonFields.OptionalString(fields, "path", pathField);
        var timeout = JsonFields.OptionalTimeout(fields, "timeout", JsonFields.Field(where, "timeout"), messaging.MaxTimeout);
        return Subscription(topic, group, path, timeout, where, service, pathOptional);
    }

    /// <summary>A gRPC <c>Subscription</c> (or the fields of an <c>AddSubscriptionRequest</c>), with the rules and words of
    /// the HTTP API; empty strings and a zero timeout are unset.</summary>
    public NodeSubscription Subscription(string topic, string group, string path, double timeout, string where, bool service, bool pathOptional = false)
    {
        var topicField = JsonFields.Field(where, "topic");
        if (topic.Length == 0)
        {
            throw TrellisException.Invalid($"{topicField} is required");
        }

        JsonFields.Topic(topic, topicField, messaging.MaxTopicLength, pattern: !service);
        var seconds = timeout == 0 ? (TimeSpan?)null : JsonFields.Timeout(timeout, JsonFields.Field(where, "timeout"), messaging.MaxTimeout);
        return Subscription(topic, NullIfEmpty(group), NullIfEmpty(path), seconds, where, service, pathOptional);
    }

    private NodeSubscription Subscription(V1.Subscription item, string where, bool service, bool pathOptional) =>
        Subscription(item.Topic, item.Group, item.Path, item.Timeout, where, service, pathOptional);

    private NodeSubscription Subscription(string topic, string? group, string? path, TimeSpan? timeout, string where, bool service, bool pathOptional)
    {
        if (Edge.EdgeTopics.IsReserved(topic))
        {
            throw TrellisException.Invalid($"{JsonFields.Field(where, "topic")} '{topic}' is reserved: topics under '{Edge.EdgeTopics.Prefix}' are served only by edge devices' links");
        }

        var groupField = JsonFields.Field(where, "group");
        TopicRules.ValidateGroup(group, required: service, groupField);
        var pathField = JsonFields.Field(where, "path");
        var checkedPath = pathOptional && path is null or ""
            ? ""
            : JsonFields.CallbackPath(path ?? throw TrellisException.Invalid($"{pathField} is required"), pathField);
        return new NodeSubscription(topic, group is { Length: > 0 } ? group : null, checkedPath, timeout ?? messaging.DefaultHandlerTimeout);
    }

    public PublishRequest Request(JsonElement body)
    {
        var fields = JsonFields.Fields(body, "", RequestFields);
        var hasTopic = fields.TryGetValue("topic", out var topicValue) && topicValue.ValueKind != JsonValueKind.Null;
        var hasComposition = fields.TryGetValue("composition", out var compositionValue) && compositionValue.ValueKind != JsonValueKind.Null;
        CheckTopicOrComposition(hasTopic, hasComposition);
        string? topic = null;
        Composition? composition = null;
        if (hasTopic)
        {
            topic = JsonFields.RequireString(fields, "topic", "topic");
            TopicRules.ValidateTopic(topic, messaging.MaxTopicLength, "topic");
        }
        else
        {
            composition = CompositionParser.Parse(compositionValue, messaging.MaxTopicLength);
        }

        var message = Message(fields);
        var timeout = JsonFields.OptionalTimeout(fields, "timeout", "timeout", messaging.MaxTimeout);
        return new PublishRequest(topic, composition, message, timeout);
    }

    /// <summary>A gRPC <c>PublishRequest</c>, with the rules and words of <c>POST /request/:id</c>.</summary>
    public PublishRequest Request(V1.PublishRequest request)
    {
        var hasTopic = request.Topic.Length > 0;
        var hasComposition = request.Composition is { KindCase: not (Value.KindOneofCase.None or Value.KindOneofCase.NullValue) };
        CheckTopicOrComposition(hasTopic, hasComposition);
        string? topic = null;
        Composition? composition = null;
        if (hasTopic)
        {
            topic = request.Topic;
            TopicRules.ValidateTopic(topic, messaging.MaxTopicLength, "topic");
        }
        else
        {
            composition = CompositionParser.Parse(ProtoJson.ToElement(request.Composition, "composition")!.Value, messaging.MaxTopicLength);
        }

        var message = Message(ProtoJson.ToPayload(request.Message, "message"));
        var timeout = request.Timeout == 0 ? (TimeSpan?)null : JsonFields.Timeout(request.Timeout, "timeout", messaging.MaxTimeout);
        return new PublishRequest(topic, composition, message, timeout);
    }

    public (string Topic, JsonPayload Message) Signal(JsonElement body)
    {
        var fields = JsonFields.Fields(body, "", SignalFields);
        var topic = JsonFields.RequireString(fields, "topic", "topic");
        TopicRules.ValidateTopic(topic, messaging.MaxTopicLength, "topic");
        return (topic, Message(fields));
    }

    /// <summary>A gRPC <c>SignalRequest</c>, with the rules and words of <c>POST /signal/:id</c>.</summary>
    public (string Topic, JsonPayload Message) Signal(V1.SignalRequest request)
    {
        var topic = request.Topic.Length > 0 ? request.Topic : throw TrellisException.Invalid("topic is required");
        TopicRules.ValidateTopic(topic, messaging.MaxTopicLength, "topic");
        return (topic, Message(ProtoJson.ToPayload(request.Message, "message")));
    }

    private static void CheckTopicOrComposition(bool hasTopic, bool hasComposition)
    {
        if (hasTopic == hasComposition)
        {
            throw TrellisException.Invalid(hasTopic
                ? "give either topic or composition, not both"
                : "topic or composition is required (exactly one of them)");
        }
    }

    // The client's own bytes, passed through: the document parsed them, so they are valid JSON (no re-serialising).
    private JsonPayload Message(Dictionary<string, JsonElement> fields) =>
        fields.TryGetValue("message", out var value) && value.ValueKind != JsonValueKind.Null
            ? Message(JsonPayload.FromTrustedUtf8(JsonMarshal.GetRawUtf8Value(value).ToArray()))
            : JsonPayload.Null;

    private JsonPayload Message(JsonPayload payload) =>
        payload.Length <= messaging.MaxPayloadBytes
            ? payload
            : throw ApiException.PayloadTooLarge($"message is {payload.Length} bytes; the limit is {messaging.MaxPayloadBytes} (Trellis:Messaging:MaxPayloadBytes)");

    private static string? NullIfEmpty(string value) => value.Length == 0 ? null : value;

    /// <summary>Refuses a second handler for one service topic and group in a node (Gilmour: "Duplicate reply handler"),
    /// and a slot repeated with the same topic, group and path.</summary>
    public static void CheckDuplicates(IReadOnlyList<NodeSubscription> list, string name, bool service)
    {
        for (var a = 0; a < list.Count; a++)
        {
            for (var b = a + 1; b < list.Count; b++)
            {
                if (IsDuplicate(list[a], list[b], service))
                {
                    throw new TrellisException(ErrorKind.AlreadyExists, service
                        ? $"{name}[{b}] repeats the topic and group of {name}[{a}] ('{list[b].Topic}', '{list[b].Group}'): a node has one handler per service topic and group"
                        : $"{name}[{b}] repeats {name}[{a}] (same topic, group and path)");
                }
            }
        }
    }

    public static bool IsDuplicate(NodeSubscription x, NodeSubscription y, bool service) =>
        string.Equals(x.Topic, y.Topic, StringComparison.Ordinal)
        && string.Equals(x.Group, y.Group, StringComparison.Ordinal)
        && (service || string.Equals(x.Path, y.Path, StringComparison.Ordinal));
}
