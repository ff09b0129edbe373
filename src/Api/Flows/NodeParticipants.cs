using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Trellis.Api.Proxy;
using Trellis.Api.Proxy.Internal;
using Trellis.Core.Bus;
using Trellis.Core.Diagnostics;
using Trellis.Core.Errors;
using Trellis.Core.Messaging;
using Trellis.Core.Nodes;
using Trellis.Flows.Broker;

namespace Trellis.Api.Flows;

/// <summary>A port a node declared at registration: its id, and for an inport the callback path its messages are POSTed to.</summary>
public sealed record NodePort(string Id, string? Path, JsonObject Announced);

/// <summary>What a node declared to take part in flows: <c>role</c>, <c>component</c>, <c>inports</c>, <c>outports</c>.</summary>
public sealed record NodeFlowPorts(string? Role, string? Component, IReadOnlyList<NodePort> Inports, IReadOnlyList<NodePort> Outports)
{
    /// <summary>The ports as the node's record keeps them.</summary>
    public NodeFlowDeclaration ToDeclaration()
    {
        static NodeFlowPortDeclaration[] Convert(IReadOnlyList<NodePort> ports) =>
            ports.Select(static p => new NodeFlowPortDeclaration(p.Id, p.Path, p.Announced.Count == 0 ? null : p.Announced.ToJsonString())).ToArray();

        return new NodeFlowDeclaration(Role, Component, Convert(Inports), Convert(Outports));
    }

    /// <summary>The ports a node's record keeps, as declared (a stored <c>Announced</c> that is not a JSON object is dropped).</summary>
    public static NodeFlowPorts FromDeclaration(NodeFlowDeclaration declaration)
    {
        ArgumentNullException.ThrowIfNull(declaration);

        static NodePort[] Convert(IReadOnlyList<NodeFlowPortDeclaration>? ports) =>
            (ports ?? []).Select(static p => new NodePort(p.Id, p.Path, Announced(p.Announced))).ToArray();

        static JsonObject Announced(string? text)
        {
            try
            {
                return text is null ? [] : JsonNode.Parse(text) as JsonObject ?? [];
            }
            catch (JsonException)
            {
                return [];
            }
        }

        return new NodeFlowPorts(declaration.Role, declaration.Component, Convert(declaration.Inports), Convert(declaration.Outports));
    }
}

/// <summary>Nodes as MsgFlo participants (issue 11 item 6): for a node that declared ports, the gateway declares
/// <c>&lt;role&gt;.&lt;PORT&gt;</c> inqueues and outport exchanges on the flow broker, announces the node on <c>fbp</c>
/// (again every <see cref="AnnounceInterval"/> while it is ok), consumes its inqueues and delivers each message to the node
/// as a signal (acknowledged after the node's 2xx, rejected otherwise), and publishes what the node sends on an outport.
/// So flows of nodes run on the in-memory broker of the all-in-one default as on RabbitMQ.</summary>
/// <remarks>The ports are kept in the node's record (<see cref="NodeRecord.Flow"/>): when the gateway restores its nodes
/// after a restart, their queues, consumers and announcements come back with them.</remarks>
public sealed partial class NodeParticipants : IHostedService, IAsyncDisposable
{
    /// <summary>The most ports a node may declare of each kind.</summary>
    public const int MaxPorts = 64;

    /// <summary>The callback path of an inport that names none.</summary>
    public const string DefaultInportPath = "/inports/{id}";

    private static readonly string[] PortFields = ["id", "path"];

    private readonly ConcurrentDictionary<string, NodeFlow> _nodes = new(StringComparer.Ordinal);
    private readonly IServiceProvider _services;
    private readonly NodeRegistry _registry;
    private readonly MessagingOptions _messaging;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private Task? _loop;

    public NodeParticipants(IServiceProvider services, NodeRegistry registry, MessagingOptions messaging, TimeProvider time, ILogger<NodeParticipants> logger)
    {
        _services = services;
        _registry = registry;
        _messaging = messaging;
        _time = time;
        _logger = logger;
        _registry.StatusChanged += OnStatusChanged;
        _registry.Deleted += OnDeleted;
        _registry.Restored += OnRestored;
    }

    /// <summary>How often a node that is ok is announced again; its heartbeat is three times this.</summary>
    public TimeSpan AnnounceInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The ports a node declared at this gateway, or null.</summary>
    public NodeFlowPorts? PortsOf(string nodeId) => _nodes.TryGetValue(nodeId, out var flow) ? flow.Ports : null;

    /// <summary>Reads <c>role</c>, <c>component</c>, <c>inports</c> and <c>outports</c> from a registration body; null when it
    /// has none of them. A bad field is refused naming it.</summary>
    public static NodeFlowPorts? ParsePorts(JsonElement body)
    {
        string? Text(string name, int max)
        {
            if (!body.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
            {
                return null;
            }

            if (value.ValueKind != JsonValueKind.String)
            {
                throw TrellisException.Invalid($"'{name}' must be a string, not {JsonFields.Describe(value)}");
            }

            var text = value.GetString()!;
            return text.Length is > 0 && text.Length <= max ? text : throw TrellisException.Invalid($"'{name}' must be 1 to {max} characters");
        }

        var role = Text("role", 64);
        if (role is not null && !IsName(role))
        {
            throw TrellisException.Invalid($"'role' {FlowOperations.Quote(role)} must be 1 to 64 characters of A-Z, a-z, 0-9, '_', '-' (it names the queues <role>.<PORT>)");
        }

        var component = Text("component", 200);
        var inports = Ports(body, "inports", inport: true);
        var outports = Ports(body, "outports", inport: false);
        return role is null && component is null && inports is null && outports is null
            ? null
            : new NodeFlowPorts(role, component, inports ?? [], outports ?? []);
    }

    /// <summary>The flow fields of a gRPC <c>RegisterNodeRequest</c>, with the rules and words of <c>POST /nodes</c>.</summary>
    public static NodeFlowPorts? ParsePorts(Contracts.V1.RegisterNodeRequest request)
    {
        if (request.Role.Length == 0 && request.Component.Length == 0 && request.Inports.Count == 0 && request.Outports.Count == 0)
        {
            return null;
        }

        static JsonArray Array(IEnumerable<Contracts.V1.NodePort> ports)
        {
            var array = new JsonArray();
            foreach (var p in ports)
            {
                var port = new JsonObject { ["id"] = p.Id };
                if (p.Path.Length > 0)
                {
                    port["path"] = p.Path;
                }

                if (p.Type.Length > 0)
                {
                    port["type"] = p.Type;
                }

                if (p.Description.Length > 0)
                {
                    port["description"] = p.Description;
                }

                array.Add(port);
            }

            return array;
        }

        var body = new JsonObject
        {
            ["role"] = request.Role.Length > 0 ? request.Role : null,
            ["component"] = request.Component.Length > 0 ? request.Component : null,
            ["inports"] = Array(request.Inports),
            ["outports"] = Array(request.Outports),
        };
        return ParsePorts(JsonSerializer.SerializeToElement(body));
    }

    private static List<NodePort>? Ports(JsonElement body, string name, bool inport)
    {
        if (!body.TryGetProperty(name, out var array) || array.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (array.ValueKind != JsonValueKind.Array)
        {
            throw TrellisException.Invalid($"'{name}' must be an array of {{id, ...}} objects, not {JsonFields.Describe(array)}");
        }

        if (array.GetArrayLength() > MaxPorts)
        {
            throw TrellisException.Invalid($"'{name}' has {array.GetArrayLength()} ports; the limit is {MaxPorts}");
        }

        var ports = new List<NodePort>();
        var index = 0;
        foreach (var item in array.EnumerateArray())
        {
            var where = $"{name}[{index++}]";
            if (item.ValueKind != JsonValueKind.Object)
            {
                throw TrellisException.Invalid($"{where} must be an object {{id, ...}}, not {JsonFields.Describe(item)}");
            }

            if (!item.TryGetProperty("id", out var idValue) || idValue.ValueKind != JsonValueKind.String || !IsName(idValue.GetString()!))
            {
                throw TrellisException.Invalid($"{where}.id is required: 1 to 64 characters of A-Z, a-z, 0-9, '_', '-'");
            }

            var id = idValue.GetString()!;
            if (ports.Exists(p => string.Equals(p.Id, id, StringComparison.OrdinalIgnoreCase)))
            {
                throw TrellisException.Invalid($"{where}.id {FlowOperations.Quote(id)} is declared twice in '{name}'");
            }

            string? path = null;
            if (item.TryGetProperty("path", out var pathValue) && pathValue.ValueKind != JsonValueKind.Null)
            {
                if (!inport)
                {
                    throw TrellisException.Invalid($"{where}.path is for inports only (a node sends on an outport with POST /nodes/{{id}}/outports/{{port}})");
                }

                path = pathValue.ValueKind == JsonValueKind.String
                    ? JsonFields.CallbackPath(pathValue.GetString()!, $"{where}.path")
                    : throw TrellisException.Invalid($"{where}.path must be a string, not {JsonFields.Describe(pathValue)}");
            }

            var announced = JsonNode.Parse(item.GetRawText())!.AsObject();
            foreach (var field in PortFields)
            {
                announced.Remove(field);
            }

            ports.Add(new NodePort(id, inport ? path ?? DefaultInportPath.Replace("{id}", id, StringComparison.Ordinal) : null, announced));
        }

        return ports;
    }

    private static bool IsName(string text) =>
        text.Length is > 0 and <= 64 && text.All(static c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-');

    /// <summary>Makes a just registered node a participant: wired and announced at once when it is ok.</summary>
    internal async Task AttachAsync(NodeRecord record, NodeFlowPorts ports)
    {
        var role = ports.Role ?? record.Id;
        var flow = new NodeFlow(record.Id, role, ports);
        _nodes[record.Id] = flow;
        LogAttached(_logger, record.Id, role, ports.Inports.Count, ports.Outports.Count);
        if (record.Status == NodeStatus.Ok)
        {
            // The node is registered whatever the broker says; a failure here is retried at the next announcement.
            await RunAsync(flow, t => StartAsync(flow, t));
        }
    }

    /// <summary>Publishes on a node's outport exchange (<c>POST /nodes/{id}/outports/{port}</c>).</summary>
    internal async Task PublishAsync(string nodeId, string port, ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
    {
        if (!_nodes.TryGetValue(nodeId, out var flow))
        {
            throw new TrellisException(ErrorKind.NotFound, $"node {nodeId} declared no outports at this gateway (declare outports when it registers)");
        }

        var outport = flow.Ports.Outports.FirstOrDefault(p => string.Equals(p.Id, port, StringComparison.OrdinalIgnoreCase))
            ?? throw new TrellisException(ErrorKind.NotFound,
                $"node {nodeId} has no outport {FlowOperations.Quote(port)} (it declared: {(flow.Ports.Outports.Count == 0 ? "none" : string.Join(", ", flow.Ports.Outports.Select(static p => p.Id)))})");
        var broker = Broker;
        var exchange = flow.Queue(outport);
        // Declared again in case the broker lost it (a RabbitMQ restart); idempotent.
        await broker.DeclareOutportAsync(exchange, FlowPortOptions.Default, cancellationToken);
        using var producer = MessagingTracing.StartPublish(MessagingTracing.SystemOf(broker.Name), exchange);
        await broker.PublishAsync(exchange, body, MessagingTracing.TraceParentOf(producer) ?? MessagingTracing.CurrentTraceParent, cancellationToken);
        FlowMetrics.Sent(exchange);
    }

    private IFlowBroker Broker => _services.GetService<IFlowBroker>()
        ?? throw new TrellisException(ErrorKind.Unavailable, "flows are not available in this process (no flow broker registered)");

    private async Task StartAsync(NodeFlow flow, CancellationToken cancellationToken)
    {
        await flow.Gate.WaitAsync(cancellationToken);
        try
        {
            if (flow.Removed)
            {
                return;
            }

            var broker = Broker;
            await broker.StartAsync(cancellationToken);
            foreach (var outport in flow.Ports.Outports)
            {
                await broker.DeclareOutportAsync(flow.Queue(outport), FlowPortOptions.Default, cancellationToken);
            }

            foreach (var inport in flow.Ports.Inports)
            {
                var queue = flow.Queue(inport);
                await broker.DeclareInportAsync(queue, FlowPortOptions.Default, cancellationToken);
                if (!flow.Consumers.ContainsKey(inport.Id))
                {
                    var subscription = new NodeSubscription(queue, null, inport.Path!, _messaging.DefaultHandlerTimeout);
                    flow.Consumers[inport.Id] = await broker.ConsumeAsync(queue, FlowConsumerOptions.Default,
                        (delivery, _) => DeliverAsync(flow, subscription, delivery), cancellationToken);
                }
            }

            await AnnounceAsync(broker, flow, cancellationToken);
        }
        finally
        {
            flow.Gate.Release();
        }
    }

    private async Task StopAsync(NodeFlow flow, bool remove)
    {
        await flow.Gate.WaitAsync(CancellationToken.None);
        try
        {
            flow.Removed |= remove;
            foreach (var consumer in flow.Consumers.Values)
            {
                try
                {
                    await consumer.DisposeAsync();
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    LogFlowFailed(_logger, e, flow.NodeId);
                }
            }

            flow.Consumers.Clear();
        }
        finally
        {
            flow.Gate.Release();
        }
    }

    private async ValueTask DeliverAsync(NodeFlow flow, NodeSubscription subscription, FlowDelivery delivery)
    {
        FlowMetrics.Delivered(delivery.Exchange, subscription.Topic);
        // The node's callback runs inside the message's consumer span, so the node gets its traceparent header.
        using var span = MessagingTracing.StartProcess(MessagingTracing.SystemOf(Broker.Name), subscription.Topic, delivery.TraceParent, null, flow.Role);
        JsonPayload data;
        try
        {
            data = JsonPayload.Parse(delivery.Body.ToArray(), "flow message");
        }
        catch (TrellisException)
        {
            // Not JSON (a participant may send anything): the node gets the text.
            data = JsonPayload.From(JsonSerializer.SerializeToElement(Encoding.UTF8.GetString(delivery.Body.Span)));
        }

        CallResult result;
        try
        {
            result = await _registry.DeliverAsync(flow.NodeId, subscription, subscription.Topic, data);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            LogDeliveryFailed(_logger, flow.NodeId, subscription.Topic, e.Message);
            await delivery.NackAsync(requeue: true);
            return;
        }

        if (!Codes.IsError(result.Reply.Code))
        {
            await delivery.AckAsync();
            return;
        }

        LogDeliveryFailed(_logger, flow.NodeId, subscription.Topic, $"{result.Reply.Code} {result.Reply.Data}");
        // A node that was not reached leaves the message for later; one that refused it sends it to the dead-letter exchange.
        await delivery.NackAsync(requeue: result.Refused);
    }

    private async Task AnnounceAsync(IFlowBroker broker, NodeFlow flow, CancellationToken cancellationToken)
    {
        await broker.DeclareQueueAsync("fbp", cancellationToken);
        var message = new JsonObject
        {
            ["protocol"] = "discovery",
            ["command"] = "participant",
            ["payload"] = flow.Payload(AnnounceInterval * 3),
        };
        await broker.SendToQueueAsync("fbp", Encoding.UTF8.GetBytes(message.ToJsonString()), MessagingTracing.CurrentTraceParent, cancellationToken);
    }

    private void OnStatusChanged(NodeStatusEvent e)
    {
        if (_nodes.TryGetValue(e.NodeId, out var flow))
        {
            _ = RunAsync(flow, e.Status == NodeStatus.Ok ? t => StartAsync(flow, t) : _ => StopAsync(flow, remove: false));
        }
    }

    private void OnRestored(NodeRecord record)
    {
        if (record.Flow is { } declaration)
        {
            _ = RunAsync(record.Id, () => AttachAsync(record, NodeFlowPorts.FromDeclaration(declaration)));
        }
    }

    private async Task RunAsync(string nodeId, Func<Task> step)
    {
        try
        {
            await Task.Yield();
            await step();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            LogFlowFailed(_logger, e, nodeId);
        }
    }

    /// <summary>Stops a deleted node's consumers; its delete answers once they are stopped, so nothing sent to its queues
    /// afterwards reaches it.</summary>
    private Task OnDeleted(string nodeId) =>
        _nodes.TryRemove(nodeId, out var flow) ? RunAsync(flow, _ => StopAsync(flow, remove: true)) : Task.CompletedTask;

    private async Task RunAsync(NodeFlow flow, Func<CancellationToken, Task> step)
    {
        try
        {
            await Task.Yield();
            await step(_stopping.Token);
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            LogFlowFailed(_logger, e, flow.NodeId);
        }
    }

    private async Task LoopAsync()
    {
        using var timer = new PeriodicTimer(AnnounceInterval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(_stopping.Token))
            {
                foreach (var flow in _nodes.Values)
                {
                    if (_registry.StatusOf(flow.NodeId) == NodeStatus.Ok)
                    {
                        // Wires what a broker restart lost and announces again (the heartbeat).
                        await RunAsync(flow, t => StartAsync(flow, t));
                    }
                }
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
        }
    }

    Task IHostedService.StartAsync(CancellationToken cancellationToken)
    {
        _loop = LoopAsync();
        return Task.CompletedTask;
    }

    async Task IHostedService.StopAsync(CancellationToken cancellationToken) => await DisposeAsync();

    public async ValueTask DisposeAsync()
    {
        if (_stopping.IsCancellationRequested)
        {
            return;
        }

        await _stopping.CancelAsync();
        _registry.StatusChanged -= OnStatusChanged;
        _registry.Deleted -= OnDeleted;
        _registry.Restored -= OnRestored;
        if (_loop is not null)
        {
            await _loop;
        }

        foreach (var flow in _nodes.Values)
        {
            await StopAsync(flow, remove: true);
        }
    }

    /// <summary>One node's part in flows: its ports and the consumers of its inqueues (changed under <see cref="Gate"/>).</summary>
    private sealed class NodeFlow(string nodeId, string role, NodeFlowPorts ports)
    {
        public string NodeId { get; } = nodeId;

        public string Role { get; } = role;

        public NodeFlowPorts Ports { get; } = ports;

        public string ParticipantId { get; } = $"{role}-{nodeId}";

        public SemaphoreSlim Gate { get; } = new(1, 1);

        public Dictionary<string, IAsyncDisposable> Consumers { get; } = new(StringComparer.Ordinal);

        public bool Removed { get; set; }

        /// <summary>msgflo's queue naming: <c>&lt;role&gt;.&lt;PORT&gt;</c>.</summary>
        public string Queue(NodePort port) => $"{Role}.{port.Id.ToUpperInvariant()}";

        public JsonObject Payload(TimeSpan heartbeat) => new()
        {
            ["id"] = ParticipantId,
            ["role"] = Role,
            ["component"] = Ports.Component ?? Role,
            ["label"] = $"Trellis node {NodeId}",
            ["icon"] = "cube",
            ["inports"] = PortsJson(Ports.Inports),
            ["outports"] = PortsJson(Ports.Outports),
            ["heartbeat"] = heartbeat.TotalSeconds,
        };

        private JsonArray PortsJson(IReadOnlyList<NodePort> ports)
        {
            var array = new JsonArray();
            foreach (var p in ports)
            {
                var port = new JsonObject { ["id"] = p.Id, ["queue"] = Queue(p) };
                foreach (var (key, value) in p.Announced)
                {
                    if (key != "queue")
                    {
                        port[key] = value?.DeepClone();
                    }
                }

                array.Add(port);
            }

            return array;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Node {NodeId} takes part in flows as role {Role} with {Inports} inports and {Outports} outports")]
    private static partial void LogAttached(ILogger logger, string nodeId, string role, int inports, int outports);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A flow message on {Queue} was not delivered to node {NodeId}: {Reason}")]
    private static partial void LogDeliveryFailed(ILogger logger, string nodeId, string queue, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Wiring node {NodeId} into flows failed; it is tried again at its next announcement")]
    private static partial void LogFlowFailed(ILogger logger, Exception exception, string nodeId);
}
