using System.Collections.Concurrent;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Trellis.Api.Errors;
using Trellis.Api.Proxy.Internal;
using Trellis.Core.Bus;
using Trellis.Core.Errors;
using Trellis.Core.Messaging;
using Trellis.Core.Nodes;
using Trellis.Grains.Cluster;
using Trellis.Hosting.Messaging;
using Request = Trellis.Core.Messaging.Request;

namespace Trellis.Api.Proxy;

/// <summary>A change or confirmation of a node's status: the node, what it is now, what it was, and why.</summary>
public sealed record NodeStatusEvent(string NodeId, NodeStatus Status, NodeStatus Previous, string Reason);

/// <summary>The nodes registered with this gateway: their records, their subscriptions on the bus, their health.</summary>
/// <remarks>
/// Services are subscribed once per (topic, group) for the whole gateway and dispatched round-robin among the member
/// nodes, because the bus allows one reply handler per topic and group in a process; that keeps the group's guarantee
/// (one execution per request) however many of its nodes sit behind this gateway. Slots are subscribed per node.
/// A node's subscriptions exist only while its status is <see cref="NodeStatus.Ok"/>.
/// </remarks>
public sealed partial class NodeRegistry
{
    private readonly ConcurrentDictionary<string, LiveNode> _nodes = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _tokens = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Topic, string Group), ServiceGroup> _groups = [];
    private readonly SemaphoreSlim _groupsLock = new(1, 1);
    private readonly ConcurrentDictionary<Task, byte> _background = new();
    private readonly SemaphoreSlim _checkSlots = new(64, 64);
    private readonly CancellationTokenSource _stopping = new();
    private readonly INodeStore _store;
    private readonly BusHost _busHost;
    private readonly NodesOptions _options;
    private readonly MessagingOptions _messaging;
    private readonly TimeProvider _time;
    private readonly NodeClient _client;
    private readonly ILogger _logger;
    private int _count;

    public NodeRegistry(
        INodeStore store, BusHost busHost, NodesOptions options, MessagingOptions messaging, TimeProvider time, ILogger<NodeRegistry> logger,
        IHostApplicationLifetime? lifetime = null)
    {
        // The web server stops before the registry does and ends the nodes' streams as it goes: what happens to nodes
        // while the process stops is not news to store (a restart marks stream nodes dirty anyway).
        lifetime?.ApplicationStopping.Register(() => _stopping.Cancel());
        _store = store;
        _busHost = busHost;
        _options = options;
        _messaging = messaging;
        _time = time;
        _logger = logger;
        _client = new NodeClient(time);
    }

    /// <summary>Raised after a node's status changed and its subscriptions were added or removed to match.</summary>
    public event Action<NodeStatusEvent>? StatusChanged;

    /// <summary>Raised after every health check has been applied (status changed or not).</summary>
    public event Action<NodeStatusEvent>? HealthChecked;

    /// <summary>Raised for each node restored from the store at start, before its first health check.</summary>
    public event Action<NodeRecord>? Restored;

    /// <summary>Raised after a node was deleted (its id). The delete waits for what each observer returns, up to
    /// <see cref="DeletedObserversWait"/>, so that what the node had outside the registry (its flow consumers) is gone
    /// when its delete answers.</summary>
    public event Func<string, Task>? Deleted;

    /// <summary>How long a delete waits for <see cref="Deleted"/>'s observers before it answers; they go on after that.</summary>
    internal static readonly TimeSpan DeletedObserversWait = TimeSpan.FromSeconds(10);

    /// <summary>Registered nodes.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>The node's status, or null when no such node is registered.</summary>
    public NodeStatus? StatusOf(string id) => _nodes.TryGetValue(id, out var node) ? node.Record.Status : null;

    internal int MaxReplyBytes => _options.MaxReplyBytes > 0 ? _options.MaxReplyBytes : _messaging.MaxPayloadBytes;

    internal TimeProvider Time => _time;

    internal LiveNode? Find(string id) => _nodes.GetValueOrDefault(id);

    /// <summary>Adds this gateway's nodes to <paramref name="counts"/>, indexed by <see cref="NodeStatus"/> (the gauge of node states).</summary>
    internal void CountByStatus(Span<int> counts)
    {
        foreach (var node in _nodes.Values)
        {
            counts[(int)node.Record.Status]++;
        }
    }

    /// <summary>The id of the node a token belongs to, whichever gateway serves it, or null.</summary>
    internal async ValueTask<string?> NodeIdForTokenAsync(PresentedToken token, CancellationToken cancellationToken)
    {
        if (_tokens.TryGetValue(token.Hex, out var id))
        {
            return id;
        }

        return await ClusterAsync(() => _store.FindByTokenHashAsync(token.Hash, cancellationToken), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The record of a node served here or by another gateway, or null.</summary>
    internal async ValueTask<NodeRecord?> RecordAsync(string id, CancellationToken cancellationToken) =>
        Find(id)?.Record ?? await ClusterAsync(() => _store.GetAsync(id, cancellationToken), cancellationToken).ConfigureAwait(false);

    /// <summary>Every node of the cluster, oldest first; this gateway's with their live status.</summary>
    internal async ValueTask<IReadOnlyList<NodeRecord>> ListAsync(CancellationToken cancellationToken)
    {
        var stored = await ClusterAsync(() => _store.ListAsync(cancellationToken), cancellationToken).ConfigureAwait(false);
        return stored.Select(r => Find(r.Id)?.Record ?? r).ToArray();
    }

    /// <summary>Runs a store operation, reporting a cluster that cannot answer now as UNAVAILABLE rather than a fault of
    /// ours (<see cref="ClusterFaults"/>); the caller's own cancellation goes through as it is.</summary>
    private static async ValueTask<T> ClusterAsync<T>(Func<ValueTask<T>> operation, CancellationToken cancellationToken)
    {
        try
        {
            return await operation().ConfigureAwait(false);
        }
        catch (Exception e) when (ClusterFaults.CannotAnswerNow(e, cancellationToken))
        {
            throw new TrellisException(
                ErrorKind.Unavailable,
                e is TimeoutException ? "the cluster did not answer in time" : $"the cluster cannot answer now: {e.Message}",
                e);
        }
    }

    // ---------------------------------------------------------------- lifecycle

    /// <summary>Loads the stored registrations; the health loop then checks and re-subscribes them.</summary>
    internal async Task RestoreAsync(CancellationToken cancellationToken)
    {
        var records = await _store.ListOwnedAsync(cancellationToken).ConfigureAwait(false);
        foreach (var stored in records)
        {
            // A stream node's stream did not survive the restart: it is dirty until it attaches again.
            var record = stored.IsStreamNode ? stored with { Status = NodeStatus.Dirty } : stored;
            _nodes[record.Id] = new LiveNode(record);
            _tokens[Convert.ToHexString(record.TokenHash)] = record.Id;
        }

        Volatile.Write(ref _count, _nodes.Count);
        if (records.Count > 0)
        {
            LogRestored(_logger, records.Count);
        }

        if (Restored is { } restored)
        {
            foreach (var node in _nodes.Values)
            {
                try
                {
                    restored(node.Record);
                }
                catch (Exception error)
                {
                    LogObserverFailed(_logger, error, node.Id);
                }
            }
        }
    }

    /// <summary>Checks every node now and then every <see cref="NodesOptions.HealthInterval"/> until stopped.</summary>
    internal async Task RunHealthLoopAsync()
    {
        using var timer = new PeriodicTimer(_options.HealthInterval, _time);
        try
        {
            do
            {
                foreach (var node in _nodes.Values)
                {
                    // A stream is its node's liveness: nodes served by one are not polled over HTTP.
                    if (node.Record.IsStreamNode || node.Stream is not null)
                    {
                        continue;
                    }

                    if (Interlocked.Exchange(ref node.Checking, 1) == 0)
                    {
                        Track(CheckAsync(node));
                    }
                }
            }
            while (await timer.WaitForNextTickAsync(_stopping.Token).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
        }
    }

    /// <summary>Stops health checks and unsubscribes every node (their records stay in the store).</summary>
    internal async Task StopAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        foreach (var task in _background.Keys)
        {
            try
            {
                await task.ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or TrellisException or ObjectDisposedException)
            {
            }
        }

        foreach (var node in _nodes.Values)
        {
            await node.Gate.WaitAsync().ConfigureAwait(false);
            try
            {
                await UnsubscribeAllAsync(node).ConfigureAwait(false);
            }
            finally
            {
                node.Gate.Release();
            }
        }
    }

    // ---------------------------------------------------------------- registration

    /// <summary>Registers a node: health-checks it, subscribes it when it is ok, stores it; returns the record and its token.
    /// A node registered on a Connect <paramref name="stream"/> is ok at once and served by that stream.</summary>
    internal async Task<(NodeRecord Record, string Token)> RegisterAsync(Registration registration, NodeStream? stream, CancellationToken cancellationToken)
    {
        if (Interlocked.Increment(ref _count) > _options.MaxNodes)
        {
            Interlocked.Decrement(ref _count);
            throw ApiException.QuotaExceeded($"this gateway already holds {_options.MaxNodes} nodes (Trellis:Nodes:MaxNodes); delete unused nodes or use another gateway");
        }

        var registered = false;
        try
        {
            var token = NodeCredentials.NewToken();
            var record = new NodeRecord(
                NodeCredentials.NewId(), registration.Host, registration.Port, registration.HealthCheck,
                registration.Slots, registration.Services, NodeStatus.Dirty, NodeCredentials.Hash(token), _time.GetUtcNow())
            {
                Flow = registration.Flow,
            };
            var health = stream is not null
                ? new HealthResult(NodeStatus.Ok, $"registered on a Connect stream from {stream.Peer}")
                : await _client.CheckHealthAsync(record, _options.HealthTimeout, cancellationToken).ConfigureAwait(false);
            record = record with { Status = health.Status };
            var node = new LiveNode(record) { Stream = stream };

            // From here on the client leaving does not matter: the node is either registered whole or not at all.
            await node.Gate.WaitAsync(CancellationToken.None).ConfigureAwait(false);
            try
            {
                if (health.Status == NodeStatus.Ok)
                {
                    await SubscribeAllAsync(node, strict: true).ConfigureAwait(false);
                }

                try
                {
                    await _store.SaveAsync(record, CancellationToken.None).ConfigureAwait(false);
                }
                catch
                {
                    await UnsubscribeAllAsync(node).ConfigureAwait(false);
                    throw;
                }

                _nodes[node.Id] = node;
                _tokens[Convert.ToHexString(record.TokenHash)] = node.Id;
            }
            finally
            {
                node.Gate.Release();
            }

            registered = true;
            LogRegistered(_logger, node.Id, record.Host, record.Port, record.Slots.Count, record.Services.Count, record.Status.ToWire(), health.Reason);
            return (record, token);
        }
        finally
        {
            if (!registered)
            {
                Interlocked.Decrement(ref _count);
            }
        }
    }

    /// <summary>Deletes a node: its subscriptions go at once; calls already running finish undisturbed.</summary>
    internal async Task DeleteAsync(LiveNode node)
    {
        await node.Gate.WaitAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            ThrowIfDeleted(node);
            await _store.DeleteAsync(node.Id, CancellationToken.None).ConfigureAwait(false);
            node.Deleted = true;
            _nodes.TryRemove(node.Id, out _);
            _tokens.TryRemove(Convert.ToHexString(node.Record.TokenHash), out _);
            Interlocked.Decrement(ref _count);
            await UnsubscribeAllAsync(node).ConfigureAwait(false);

            // A stream serving the node ends with it; its client learns why.
            node.Stream?.Close(node.Id, $"node {node.Id} was deleted");
        }
        finally
        {
            node.Gate.Release();
        }

        LogDeleted(_logger, node.Id);
        if (Deleted is not { } deleted)
        {
            return;
        }

        var observers = deleted.GetInvocationList();
        var running = new Task[observers.Length];
        for (var i = 0; i < observers.Length; i++)
        {
            running[i] = Observe((Func<string, Task>)observers[i], node.Id);
        }

        try
        {
            await Task.WhenAll(running).WaitAsync(DeletedObserversWait, _time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            LogDeleteObserversSlow(_logger, node.Id, DeletedObserversWait.TotalSeconds);
        }

        async Task Observe(Func<string, Task> observer, string nodeId)
        {
            try
            {
                await observer(nodeId).ConfigureAwait(false);
            }
            catch (Exception error)
            {
                LogObserverFailed(_logger, error, nodeId);
            }
        }
    }

    /// <summary>Delivers a flow message to a node as a signal on <paramref name="topic"/> at <paramref name="target"/>'s path
    /// (by its stream or HTTP, as slots deliver); a node with nothing listening is marked dirty.</summary>
    internal async Task<CallResult> DeliverAsync(string nodeId, NodeSubscription target, string topic, JsonPayload data)
    {
        if (Find(nodeId) is not { } node || node.Deleted)
        {
            return new CallResult(Message.Error(Codes.NotFound, $"node {nodeId} is not registered here"), true);
        }

        var result = await CallAsync(node, target, topic, NodeCredentials.NewId(), data, isSignal: true, NodeTrace.Current).ConfigureAwait(false);
        if (result.Refused)
        {
            ReportRefused(node);
        }

        return result;
    }

    /// <summary>Serves a node by a Connect stream from now on: it becomes ok and its subscriptions are made.</summary>
    internal async Task AttachStreamAsync(LiveNode node, NodeStream stream)
    {
        await node.Gate.WaitAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            ThrowIfDeleted(node);
            if (node.Stream is { IsClosed: false })
            {
                throw new TrellisException(ErrorKind.AlreadyExists, $"node {node.Id} is already connected by another stream; end that one first");
            }

            node.Stream = stream;
        }
        finally
        {
            node.Gate.Release();
        }

        LogStreamAttached(_logger, node.Id, stream.Peer);
        await ApplyHealthAsync(node, new HealthResult(NodeStatus.Ok, $"a Connect stream from {stream.Peer} attached")).ConfigureAwait(false);
    }

    /// <summary>The node's stream ended: the node is deleted (<paramref name="delete"/>) or dirty until it attaches again.</summary>
    internal async Task DetachStreamAsync(LiveNode node, NodeStream stream, bool delete, string reason)
    {
        await node.Gate.WaitAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            if (!ReferenceEquals(node.Stream, stream))
            {
                return;
            }

            node.Stream = null;
        }
        finally
        {
            node.Gate.Release();
        }

        LogStreamDetached(_logger, node.Id, reason);
        if (_stopping.IsCancellationRequested)
        {
            return;
        }

        try
        {
            if (delete)
            {
                await DeleteAsync(node).ConfigureAwait(false);
            }
            else
            {
                await ApplyHealthAsync(node, new HealthResult(NodeStatus.Dirty, $"its Connect stream ended ({reason})")).ConfigureAwait(false);
            }
        }
        catch (TrellisException e) when (e.Kind == ErrorKind.NotFound)
        {
            // Deleted meanwhile.
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
        }
    }

    /// <summary>Adds a slot or service to a node (subscribed at once when the node is ok).</summary>
    internal async Task AddSubscriptionAsync(LiveNode node, NodeSubscription subscription, bool service)
    {
        await node.Gate.WaitAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            ThrowIfDeleted(node);
            var record = node.Record;
            if (record.SubscriptionCount >= _options.MaxSubscriptionsPerNode)
            {
                throw new TrellisException(ErrorKind.FailedPrecondition, $"node {node.Id} already holds {record.SubscriptionCount} slots and services; the limit is {_options.MaxSubscriptionsPerNode} (Trellis:Nodes:MaxSubscriptionsPerNode)");
            }

            var list = service ? record.Services : record.Slots;
            foreach (var existing in list)
            {
                if (ProxyRequests.IsDuplicate(existing, subscription, service))
                {
                    throw new TrellisException(ErrorKind.AlreadyExists, service
                        ? $"node {node.Id} already has a service on topic '{subscription.Topic}' in group '{subscription.Group}' (path {existing.Path}); delete it first"
                        : $"node {node.Id} already has this slot (topic '{subscription.Topic}', path {subscription.Path})");
                }
            }

            NodeSubscription[] extended = [.. list, subscription];
            var updated = service ? record with { Services = extended } : record with { Slots = extended };
            IAsyncDisposable? handle = null;
            if (record.Status == NodeStatus.Ok)
            {
                handle = await SubscribeAsync(node, subscription, service).ConfigureAwait(false);
            }

            try
            {
                await _store.SaveAsync(updated, CancellationToken.None).ConfigureAwait(false);
            }
            catch
            {
                if (handle is not null)
                {
                    await handle.DisposeAsync().ConfigureAwait(false);
                }

                throw;
            }

            node.Record = updated;
            if (handle is not null)
            {
                node.Active.Add(new ActiveSubscription(subscription, service, handle));
            }
        }
        finally
        {
            node.Gate.Release();
        }
    }

    /// <summary>Removes every slot or service of the node on <paramref name="topic"/> (and <paramref name="path"/> when given).</summary>
    internal async Task<int> RemoveSubscriptionsAsync(LiveNode node, bool service, string topic, string? path)
    {
        await node.Gate.WaitAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            ThrowIfDeleted(node);
            var record = node.Record;
            var list = service ? record.Services : record.Slots;
            var keep = new List<NodeSubscription>(list.Count);
            var removed = new List<NodeSubscription>();
            foreach (var s in list)
            {
                var matches = string.Equals(s.Topic, topic, StringComparison.Ordinal) && (path is null || string.Equals(s.Path, path, StringComparison.Ordinal));
                (matches ? removed : keep).Add(s);
            }

            if (removed.Count == 0)
            {
                var kind = service ? "service" : "slot";
                throw new TrellisException(ErrorKind.NotFound, path is null
                    ? $"node {node.Id} has no {kind} on topic '{topic}'"
                    : $"node {node.Id} has no {kind} on topic '{topic}' with path {path}");
            }

            var updated = service ? record with { Services = keep } : record with { Slots = keep };
            await _store.SaveAsync(updated, CancellationToken.None).ConfigureAwait(false);
            node.Record = updated;
            for (var i = node.Active.Count - 1; i >= 0; i--)
            {
                var active = node.Active[i];
                if (active.IsService == service && removed.Exists(r => ReferenceEquals(r, active.Subscription)))
                {
                    node.Active.RemoveAt(i);
                    await active.Handle.DisposeAsync().ConfigureAwait(false);
                }
            }

            return removed.Count;
        }
        finally
        {
            node.Gate.Release();
        }
    }

    // ---------------------------------------------------------------- health

    private async Task CheckAsync(LiveNode node)
    {
        try
        {
            await _checkSlots.WaitAsync(_stopping.Token).ConfigureAwait(false);
            try
            {
                var result = await _client.CheckHealthAsync(node.Record, _options.HealthTimeout, _stopping.Token).ConfigureAwait(false);
                await ApplyHealthAsync(node, result).ConfigureAwait(false);
            }
            finally
            {
                _checkSlots.Release();
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
        }
        finally
        {
            Volatile.Write(ref node.Checking, 0);
        }
    }

    /// <summary>Brings a node's subscriptions and stored status in line with what was observed.</summary>
    private async Task ApplyHealthAsync(LiveNode node, HealthResult result)
    {
        NodeStatus previous;
        var changed = false;
        await node.Gate.WaitAsync(_stopping.Token).ConfigureAwait(false);
        try
        {
            if (node.Deleted || _stopping.IsCancellationRequested)
            {
                return;
            }

            previous = node.Record.Status;
            if (result.Status == NodeStatus.Ok)
            {
                await SubscribeAllAsync(node, strict: false).ConfigureAwait(false);
            }
            else
            {
                await UnsubscribeAllAsync(node).ConfigureAwait(false);
            }

            if (previous != result.Status)
            {
                changed = true;
                var updated = node.Record with { Status = result.Status };
                node.Record = updated;
                try
                {
                    await _store.SaveAsync(updated, _stopping.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    LogStoreFailed(_logger, e, node.Id);
                }

                LogStatusChanged(_logger, node.Id, previous.ToWire(), result.Status.ToWire(), result.Reason);
            }
        }
        finally
        {
            node.Gate.Release();
        }

        var observed = new NodeStatusEvent(node.Id, result.Status, previous, result.Reason);
        if (changed)
        {
            Raise(StatusChanged, observed);
        }

        Raise(HealthChecked, observed);
    }

    /// <summary>A delivery found nothing listening: the node is dirty until a health check reaches it again.</summary>
    private void ReportRefused(LiveNode node)
    {
        if (Interlocked.Exchange(ref node.MarkingDirty, 1) == 0)
        {
            Track(MarkDirtyAsync(node));
        }
    }

    private async Task MarkDirtyAsync(LiveNode node)
    {
        try
        {
            await Task.Yield();
            await ApplyHealthAsync(node, new HealthResult(NodeStatus.Dirty, $"a delivery found nothing listening on {node.Record.Host}:{node.Record.Port} (connection refused)")).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
        }
        finally
        {
            Volatile.Write(ref node.MarkingDirty, 0);
        }
    }

    private void Raise(Action<NodeStatusEvent>? handlers, NodeStatusEvent e)
    {
        if (handlers is null)
        {
            return;
        }

        foreach (var handler in handlers.GetInvocationList())
        {
            try
            {
                ((Action<NodeStatusEvent>)handler)(e);
            }
            catch (Exception error)
            {
                LogObserverFailed(_logger, error, e.NodeId);
            }
        }
    }

    private void Track(Task task)
    {
        _background.TryAdd(task, 0);
        _ = task.ContinueWith(
            static (t, state) =>
            {
                var registry = (NodeRegistry)state!;
                registry._background.TryRemove(t, out _);
                if (t.Exception is { } e)
                {
                    LogBackgroundFailed(registry._logger, e.GetBaseException());
                }
            },
            this,
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    // ---------------------------------------------------------------- subscriptions (call under the node's gate)

    /// <summary>Subscribes whatever of the node's record is not live yet. Strict: the first failure undoes all and throws.</summary>
    private async Task SubscribeAllAsync(LiveNode node, bool strict)
    {
        var record = node.Record;
        for (var pass = 0; pass < 2; pass++)
        {
            var service = pass == 1;
            var list = service ? record.Services : record.Slots;
            for (var i = 0; i < list.Count; i++)
            {
                var subscription = list[i];
                if (node.Active.Exists(a => ReferenceEquals(a.Subscription, subscription)))
                {
                    continue;
                }

                try
                {
                    node.Active.Add(new ActiveSubscription(subscription, service, await SubscribeAsync(node, subscription, service).ConfigureAwait(false)));
                }
                catch (TrellisException e) when (strict)
                {
                    await UnsubscribeAllAsync(node).ConfigureAwait(false);
                    throw new TrellisException(e.Kind, $"{(service ? "services" : "slots")}[{i}] cannot be subscribed: {e.Message}", e);
                }
                catch (TrellisException e)
                {
                    LogSubscribeFailed(_logger, e, node.Id, subscription.Topic);
                }
            }
        }
    }

    private async Task UnsubscribeAllAsync(LiveNode node)
    {
        foreach (var active in node.Active)
        {
            try
            {
                await active.Handle.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                LogUnsubscribeFailed(_logger, e, node.Id, active.Subscription.Topic);
            }
        }

        node.Active.Clear();
    }

    private async Task<IAsyncDisposable> SubscribeAsync(LiveNode node, NodeSubscription subscription, bool service)
    {
        var bus = await _busHost.Started.ConfigureAwait(false);
        if (service)
        {
            return await JoinGroupAsync(bus, node, subscription).ConfigureAwait(false);
        }

        // The bus's own handler timeout is only a backstop: the node's timeout is enforced on the HTTP call itself.
        return await bus.SlotAsync(
            subscription.Topic,
            (signal, _) => DeliverSignalAsync(node, subscription, signal),
            subscription.Group,
            new HandlerOptions { Timeout = _messaging.MaxTimeout },
            _stopping.Token).ConfigureAwait(false);
    }

    private async ValueTask DeliverSignalAsync(LiveNode node, NodeSubscription subscription, Signal signal)
    {
        // Not the bus's token: unsubscribing (node deleted or unavailable) must not cut calls already running.
        var result = await CallAsync(node, subscription, signal.Topic, signal.Sender, signal.Data, isSignal: true, NodeTrace.Current).ConfigureAwait(false);
        if (result.Refused)
        {
            ReportRefused(node);
        }

        if (Codes.IsError(result.Reply.Code))
        {
            // Throwing is how a slot handler's failure reaches the error channel.
            throw new TrellisException(ErrorKind.Unavailable, $"node {node.Id} answered {result.Reply.Code} to the signal on '{signal.Topic}' at {subscription.Path}: {Truncate(result.Reply.Data.ToString())}");
        }
    }

    private async Task<IAsyncDisposable> JoinGroupAsync(MessageBus bus, LiveNode node, NodeSubscription subscription)
    {
        var key = (subscription.Topic, subscription.Group!);
        await _groupsLock.WaitAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            if (!_groups.TryGetValue(key, out var group))
            {
                group = new ServiceGroup(subscription.Topic);
                var target = group;
                group.Subscription = await bus.ReplyToAsync(
                    subscription.Topic,
                    subscription.Group!,
                    (request, _) => HandleServiceAsync(target, request),
                    new HandlerOptions { Timeout = _messaging.MaxTimeout, PassesTraceOn = true },
                    _stopping.Token).ConfigureAwait(false);
                _groups.Add(key, group);
            }

            var member = new GroupMember(this, key, group, node, subscription);
            group.Members = [.. group.Members, member];
            return member;
        }
        finally
        {
            _groupsLock.Release();
        }
    }

    private async ValueTask LeaveGroupAsync(GroupMember member)
    {
        await _groupsLock.WaitAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            var group = member.Group;
            group.Members = Array.FindAll(group.Members, m => !ReferenceEquals(m, member));
            if (group.Members.Length == 0 && _groups.Remove(member.Key) && group.Subscription is { } last)
            {
                // Still under the lock: a node joining the same group right now must find the bus subscription gone, not
                // race it for the topic (the bus allows one handler per topic and group in a process).
                await last.DisposeAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            _groupsLock.Release();
        }
    }

    /// <summary>Runs a request on one member of the group, round-robin; a member with nothing listening is marked dirty and
    /// the next one is tried, which is safe because the request never reached it.</summary>
    private async ValueTask<Message> HandleServiceAsync(ServiceGroup group, Request request)
    {
        var members = group.Members;
        if (members.Length == 0)
        {
            return Message.Error(Codes.NotFound, $"No active listeners for: {request.Topic}");
        }

        var start = (int)((uint)Interlocked.Increment(ref group.Next) % (uint)members.Length);
        var trace = new NodeTrace(request.TraceParent, request.TraceState);
        CallResult result = default;
        for (var i = 0; i < members.Length; i++)
        {
            var member = members[(start + i) % members.Length];
            result = await CallAsync(member.Node, member.Subscription, request.Topic, request.Sender, request.Data, isSignal: false, trace).ConfigureAwait(false);
            if (!result.Refused)
            {
                return result.Reply;
            }

            ReportRefused(member.Node);
        }

        return result.Reply;
    }

    /// <summary>Delivers to the node by its stream when one serves it, else by HTTP.</summary>
    private Task<CallResult> CallAsync(LiveNode node, NodeSubscription subscription, string topic, string sender, JsonPayload data, bool isSignal, NodeTrace trace)
    {
        var record = node.Record;
        if (node.Stream is { } stream)
        {
            return isSignal
                ? stream.SignalAsync(record, subscription, topic, sender, data, trace, _stopping.Token)
                : stream.RequestAsync(record, subscription, topic, sender, data, trace, _stopping.Token);
        }

        if (record.IsStreamNode)
        {
            return Task.FromResult(new CallResult(Message.Error(Codes.Unavailable, $"node {node.Id} is unavailable: its Connect stream ended"), true));
        }

        return _client.CallAsync(record, subscription, topic, sender, data, trace, MaxReplyBytes, _stopping.Token);
    }

    private static void ThrowIfDeleted(LiveNode node)
    {
        if (node.Deleted)
        {
            throw new TrellisException(ErrorKind.NotFound, $"node {node.Id} was deleted");
        }
    }

    private static string Truncate(string text) => text.Length <= 200 ? text : string.Concat(text.AsSpan(0, 200), "…");

    /// <summary>The gateway's one bus subscription for a service topic and group, shared by its member nodes.</summary>
    private sealed class ServiceGroup(string topic)
    {
        public string Topic { get; } = topic;

        public Subscription? Subscription { get; set; }

        /// <summary>Replaced (never mutated) under the registry's groups lock; read without it by deliveries.</summary>
        public GroupMember[] Members
        {
            get => Volatile.Read(ref _members);
            set => Volatile.Write(ref _members, value);
        }

        public int Next;

        private GroupMember[] _members = [];
    }

    /// <summary>One node's membership of a service group; disposing it leaves the group.</summary>
    private sealed class GroupMember(NodeRegistry registry, (string, string) key, ServiceGroup group, LiveNode node, NodeSubscription subscription) : IAsyncDisposable
    {
        public (string Topic, string Group) Key { get; } = key;

        public ServiceGroup Group { get; } = group;

        public LiveNode Node { get; } = node;

        public NodeSubscription Subscription { get; } = subscription;

        private int _left;

        public ValueTask DisposeAsync() => Interlocked.Exchange(ref _left, 1) == 0 ? registry.LeaveGroupAsync(this) : ValueTask.CompletedTask;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Restored {Count} node registrations; checking their health")]
    private static partial void LogRestored(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Information, Message = "Node {NodeId} registered on {Host}:{Port} with {Slots} slots and {Services} services: {Status} ({Reason})")]
    private static partial void LogRegistered(ILogger logger, string nodeId, string host, int port, int slots, int services, string status, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Node {NodeId} is served by a Connect stream from {Peer}")]
    private static partial void LogStreamAttached(ILogger logger, string nodeId, string peer);

    [LoggerMessage(Level = LogLevel.Information, Message = "The Connect stream of node {NodeId} ended: {Reason}")]
    private static partial void LogStreamDetached(ILogger logger, string nodeId, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Node {NodeId} deleted")]
    private static partial void LogDeleted(ILogger logger, string nodeId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Node {NodeId} is now {Status} (was {Previous}): {Reason}")]
    private static partial void LogStatusChangedCore(ILogger logger, string nodeId, string status, string previous, string reason);

    private static void LogStatusChanged(ILogger logger, string nodeId, string previous, string status, string reason)
    {
        if (status == NodeStatusNames.Ok)
        {
            LogRecovered(logger, nodeId, previous, reason);
        }
        else
        {
            LogStatusChangedCore(logger, nodeId, status, previous, reason);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Node {NodeId} is ok again (was {Previous}): {Reason}; its subscriptions are restored")]
    private static partial void LogRecovered(ILogger logger, string nodeId, string previous, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not subscribe node {NodeId} to '{Topic}'; it stays unsubscribed until its next health check")]
    private static partial void LogSubscribeFailed(ILogger logger, Exception exception, string nodeId, string topic);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not unsubscribe node {NodeId} from '{Topic}'")]
    private static partial void LogUnsubscribeFailed(ILogger logger, Exception exception, string nodeId, string topic);

    [LoggerMessage(Level = LogLevel.Error, Message = "Could not store the status of node {NodeId}")]
    private static partial void LogStoreFailed(ILogger logger, Exception exception, string nodeId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Node {NodeId} was deleted; what it had outside the registry did not stop within {Seconds} s and goes on stopping")]
    private static partial void LogDeleteObserversSlow(ILogger logger, string nodeId, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "An observer of node {NodeId} failed")]
    private static partial void LogObserverFailed(ILogger logger, Exception exception, string nodeId);

    [LoggerMessage(Level = LogLevel.Error, Message = "A background task of the node registry failed")]
    private static partial void LogBackgroundFailed(ILogger logger, Exception exception);
}
