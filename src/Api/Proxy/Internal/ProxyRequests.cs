using System.Runtime.InteropServices;
using System.Text.Json;
using Trellis.Api.Errors;
using Trellis.Core.Bus;
using Trellis.Core.Compositions;
using Trellis.Core.Errors;
using Trellis.Core.Messaging;
using Trellis.Core.Nodes;
using Trellis.Core.Topics;

namespace Trellis.Api.Proxy.Internal;

/// <summary>A validated <c>POST /nodes</c> body.</summary>
internal sealed record Registration(string Host, int Port, string HealthCheck, IReadOnlyList<NodeSubscription> Slots, IReadOnlyList<NodeSubscription> Services);

/// <summary>A validated <c>POST /request/:id</c> body: a topic or a composition, the message and the timeout.</summary>
internal sealed record PublishRequest(string? Topic, Composition? Composition, JsonPayload Message, TimeSpan? Timeout);

/// <summary>Turns request bodies into validated values; every refusal names the field.</summary>
internal sealed class ProxyRequests(NodesOptions nodes, MessagingOptions messaging)
{
    private static readonly string[] RegistrationFields = ["port", "health_check", "host", "slots", "services"];
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
                    throw TrellisException.Invalid($"{name} must not be set when registering on a Connect stream: the gateway sends a stream node its calls on the stream, and the stream is its health check");
                }
            }
        }

        var port = streamNode ? 0 : JsonFields.RequirePort(fields, "port");
        var health = streamNode
            ? ""
            : JsonFields.OptionalString(fields, "health_check", "health_check") is { } given
                ? JsonFields.CallbackPath(given, "health_check")
                : NodeRecord.DefaultHealthCheck;
        var host = JsonFields.OptionalString(fields, "host", "host") ?? NodeRecord.LoopbackHost;
        if (!nodes.IsAllowedHost(host))
        {
            throw new TrellisException(ErrorKind.PermissionDenied, $"host {JsonFields.Quote(host)} is not allowed: nodes are called on {NodeRecord.LoopbackHost} unless Trellis:Nodes:AllowedHosts lists another host");
        }

        var slotItems = JsonFields.OptionalArray(fields, "slots", out var slotCount);
        var serviceItems = JsonFields.OptionalArray(fields, "services", out var serviceCount);
        if (slotCount + serviceCount > nodes.MaxSubscriptionsPerNode)
        {
            throw TrellisException.Invalid($"a node may hold at most {nodes.MaxSubscriptionsPerNode} slots and services together (Trellis:Nodes:MaxSubscriptionsPerNode); this one asks for {slotCount + serviceCount}");
        }

        var slots = new List<NodeSubscription>(slotCount);
        var i = 0;
        foreach (var item in slotItems)
        {
            slots.Add(Subscription(item, $"slots[{i++}]", service: false, pathOptional: streamNode));
        }

        var services = new List<NodeSubscription>(serviceCount);
        i = 0;
        foreach (var item in serviceItems)
        {
            services.Add(Subscription(item, $"services[{i++}]", service: true, pathOptional: streamNode));
        }

        CheckDuplicates(slots, "slots", service: false);
        CheckDuplicates(services, "services", service: true);
        return new Registration(host, port, health, slots, services);
    }

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

        var groupField = JsonFields.Field(where, "group");
        var group = JsonFields.OptionalString(fields, "group", groupField);
        TopicRules.ValidateGroup(group, required: service, groupField);

        var pathField = JsonFields.Field(where, "path");
        var path = pathOptional && JsonFields.OptionalString(fields, "path", pathField) is null or ""
            ? ""
            : JsonFields.CallbackPath(JsonFields.RequireString(fields, "path", pathField), pathField);
        var timeout = JsonFields.OptionalTimeout(fields, "timeout", JsonFields.Field(where, "timeout"), messaging.MaxTimeout) ?? messaging.DefaultHandlerTimeout;
        return new NodeSubscription(topic, group is { Length: > 0 } ? group : null, path, timeout);
    }

    public PublishRequest Request(JsonElement body)
    {
        var fields = JsonFields.Fields(body, "", RequestFields);
        var hasTopic = fields.TryGetValue("topic", out var topicValue) && topicValue.ValueKind != JsonValueKind.Null;
        var hasComposition = fields.TryGetValue("composition", out var compositionValue) && compositionValue.ValueKind != JsonValueKind.Null;
        if (hasTopic == hasComposition)
        {
            throw TrellisException.Invalid(hasTopic
                ? "give either topic or composition, not both"
                : "topic or composition is required (exactly one of them)");
        }

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

    public (string Topic, JsonPayload Message) Signal(JsonElement body)
    {
        var fields = JsonFields.Fields(body, "", SignalFields);
        var topic = JsonFields.RequireString(fields, "topic", "topic");
        TopicRules.ValidateTopic(topic, messaging.MaxTopicLength, "topic");
        return (topic, Message(fields));
    }

    private JsonPayload Message(Dictionary<string, JsonElement> fields)
    {
        if (!fields.TryGetValue("message", out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return JsonPayload.Null;
        }

        // The client's own bytes, passed through: the document parsed them, so they are valid JSON (no re-serialising).
        var payload = JsonPayload.FromTrustedUtf8(JsonMarshal.GetRawUtf8Value(value).ToArray());
        if (payload.Length > messaging.MaxPayloadBytes)
        {
            throw ApiException.PayloadTooLarge($"message is {payload.Length} bytes; the limit is {messaging.MaxPayloadBytes} (Trellis:Messaging:MaxPayloadBytes)");
        }

        return payload;
    }

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
