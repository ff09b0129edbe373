using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Trellis.Core.Errors;

namespace Trellis.Flows.Broker.InMemory;

/// <summary>msgflo's AMQP topology in process: durable and auto-deleted queues with ready and unacknowledged messages,
/// fanout and direct exchanges, exchange-to-exchange and exchange-to-queue bindings, dead-lettering to
/// <c>dead-&lt;queue&gt;</c>, competing and exclusive consumers with a prefetch window, and taps.</summary>
/// <remarks>Topology changes take one lock; publishing takes none: a publish looks its exchange up in a concurrent
/// dictionary, reads the exchange's binding array and writes to the queues' channels, which consumers read in turn
/// (each keeps its unacknowledged deliveries under a lock of its own, which nothing else contends for). Measured on
/// two shared cores: about 0.6 million messages/s published, consumed and acknowledged on one queue at prefetch 2,
/// 1.3 million at prefetch 100. Queues are bounded: past <see cref="MaxQueueLength"/> ready messages a queue refuses new ones with
/// a <see cref="TrellisException"/> of kind ResourceExhausted naming it.</remarks>
public sealed class InMemoryFlowBroker : IFlowBroker
{
    /// <summary>Ready messages a queue holds at most when none is configured.</summary>
    public const int DefaultMaxQueueLength = 100_000;

    private readonly Lock _topology = new();
    private readonly ConcurrentDictionary<string, MemoryFlowQueue> _queues = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, MemoryFlowExchange> _exchanges = new(StringComparer.Ordinal);
    private readonly HashSet<MemoryFlowConsumer> _consumers = [];
    private readonly HashSet<MemoryFlowTap> _taps = [];
    private int _disposed;

    [ThreadStatic]
    private static List<MemoryFlowQueue>? t_targets;

    public InMemoryFlowBroker(int maxQueueLength = DefaultMaxQueueLength, ILoggerFactory? loggers = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxQueueLength, 1);
        MaxQueueLength = maxQueueLength;
        Logger = loggers?.CreateLogger<InMemoryFlowBroker>() ?? (ILogger)NullLogger.Instance;
    }

    public string Name => "inmemory";

    public int MaxQueueLength { get; }

    internal ILogger Logger { get; }

    public ValueTask StartAsync(CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        return ValueTask.CompletedTask;
    }

    public ValueTask DeclareInportAsync(string queue, FlowPortOptions options, CancellationToken cancellationToken)
    {
        FlowNames.ValidateDeclared(queue, "queue");
        ArgumentNullException.ThrowIfNull(options);
        ThrowIfDisposed();
        lock (_topology)
        {
            var q = DeclareQueueLocked(queue, options.Persistent, FlowNames.DeadLetterExchange(queue));
            var exchange = DeclareExchangeLocked(queue, MemoryExchangeType.Fanout, options.Persistent);
            exchange.Add(new MemoryBinding(q, ""));
        }

        return ValueTask.CompletedTask;
    }

    public ValueTask DeclareOutportAsync(string exchange, FlowPortOptions options, CancellationToken cancellationToken)
    {
        FlowNames.ValidateDeclared(exchange, "exchange");
        ArgumentNullException.ThrowIfNull(options);
        ThrowIfDisposed();
        lock (_topology)
        {
            DeclareExchangeLocked(exchange, MemoryExchangeType.Fanout, options.Persistent);
        }

        return ValueTask.CompletedTask;
    }

    public ValueTask DeclareQueueAsync(string queue, CancellationToken cancellationToken)
    {
        FlowNames.ValidateDeclared(queue, "queue");
        ThrowIfDisposed();
        lock (_topology)
        {
            DeclareQueueLocked(queue, persistent: true, deadLetterExchange: null);
        }

        return ValueTask.CompletedTask;
    }

    public ValueTask<bool> QueueExistsAsync(string queue, CancellationToken cancellationToken)
    {
        FlowNames.Validate(queue, "queue");
        ThrowIfDisposed();
        return ValueTask.FromResult(_queues.ContainsKey(queue));
    }

    public ValueTask<bool> ExchangeExistsAsync(string exchange, CancellationToken cancellationToken)
    {
        FlowNames.Validate(exchange, "exchange");
        ThrowIfDisposed();
        return ValueTask.FromResult(_exchanges.ContainsKey(exchange));
    }

    public ValueTask AddBindingAsync(FlowBinding binding, CancellationToken cancellationToken)
    {
        FlowNames.Validate(binding);
        ThrowIfDisposed();
        lock (_topology)
        {
            if (binding.Kind == FlowBindingKind.PubSub)
            {
                var target = QueueLocked(binding.Target!);
                ExchangeLocked(binding.Source!).Add(new MemoryBinding(target, ""));
                return ValueTask.CompletedTask;
            }

            // As msgflo-nodejs' addBinding: the direct exchange out-<src> (bound to src) feeds the target, and the
            // fanout dead-<tgt> (the target's x-dead-letter-exchange) feeds the deadletter queue.
            if (binding.Source is not null && binding.Target is not null)
            {
                var direct = DeclareExchangeLocked(FlowNames.RoundRobinExchange(binding.Source), MemoryExchangeType.Direct, persistent: true);
                var source = ExchangeLocked(binding.Source);
                var target = QueueLocked(binding.Target);
                source.Add(new MemoryBinding(direct, ""));
                direct.Add(new MemoryBinding(target, ""));
            }

            if (binding.DeadLetter is not null && binding.Target is not null)
            {
                var dead = DeclareExchangeLocked(FlowNames.DeadLetterExchange(binding.Target), MemoryExchangeType.Fanout, persistent: true);
                dead.Add(new MemoryBinding(QueueLocked(binding.DeadLetter), ""));
            }
        }

        return ValueTask.CompletedTask;
    }

    public ValueTask RemoveBindingAsync(FlowBinding binding, CancellationToken cancellationToken)
    {
        FlowNames.Validate(binding);
        ThrowIfDisposed();
        lock (_topology)
        {
            if (binding.Kind == FlowBindingKind.PubSub)
            {
                UnbindLocked(binding.Source!, binding.Target!);
                return ValueTask.CompletedTask;
            }

            // The exchange out-<src> stays bound to src: other round-robin targets of the same source use it.
            if (binding.Source is not null && binding.Target is not null)
            {
                UnbindLocked(FlowNames.RoundRobinExchange(binding.Source), binding.Target);
            }

            if (binding.DeadLetter is not null && binding.Target is not null)
            {
                UnbindLocked(FlowNames.DeadLetterExchange(binding.Target), binding.DeadLetter);
            }
        }

        return ValueTask.CompletedTask;
    }

    public ValueTask SendToQueueAsync(string queue, ReadOnlyMemory<byte> body, string? traceParent, CancellationToken cancellationToken)
    {
        FlowNames.Validate(queue, "queue");
        ThrowIfDisposed();
        if (!_queues.TryGetValue(queue, out var q))
        {
            throw NoQueue(queue);
        }

        if (!q.TryEnqueue(new FlowMessage(body.ToArray(), "", queue, traceParent)) && !q.Deleted)
        {
            throw Full(q);
        }

        return ValueTask.CompletedTask;
    }

    public ValueTask PublishAsync(string exchange, ReadOnlyMemory<byte> body, string? traceParent, CancellationToken cancellationToken)
    {
        FlowNames.Validate(exchange, "exchange");
        ThrowIfDisposed();
        if (!_exchanges.TryGetValue(exchange, out var e))
        {
            throw NoExchange(exchange);
        }

        Route(e, new FlowMessage(body.ToArray(), exchange, "", traceParent), refuse: true);
        return ValueTask.CompletedTask;
    }

    public ValueTask<IAsyncDisposable> ConsumeAsync(string queue, FlowConsumerOptions options, FlowDeliveryHandler handler, CancellationToken cancellationToken)
    {
        FlowNames.Validate(queue, "queue");
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(handler);
        if (options.Prefetch < 1)
        {
            throw TrellisException.Invalid($"The prefetch of a consumer of '{queue}' must be at least 1 (was {options.Prefetch})");
        }

        MemoryFlowConsumer consumer;
        lock (_topology)
        {
            ThrowIfDisposed();
            var q = QueueLocked(queue);
            if (q.HeldExclusively)
            {
                throw new TrellisException(ErrorKind.FailedPrecondition, $"Queue '{queue}' is held by an exclusive consumer; try again after it stops");
            }

            if (options.Exclusive && q.Consumers > 0)
            {
                throw new TrellisException(
                    ErrorKind.FailedPrecondition, $"Queue '{queue}' has {q.Consumers} consumer(s); an exclusive consumer must be its only one");
            }

            consumer = new MemoryFlowConsumer(this, q, options, handler);
            q.Consumers++;
            q.HeldExclusively = options.Exclusive;
            _consumers.Add(consumer);
        }

        consumer.Start();
        return ValueTask.FromResult<IAsyncDisposable>(consumer);
    }

    public ValueTask<IAsyncDisposable> TapAsync(string exchange, FlowTapHandler handler, CancellationToken cancellationToken)
    {
        FlowNames.Validate(exchange, "exchange");
        ArgumentNullException.ThrowIfNull(handler);
        MemoryFlowTap tap;
        lock (_topology)
        {
            ThrowIfDisposed();
            var e = ExchangeLocked(exchange);
            var queue = new MemoryFlowQueue($"amq.gen-{Guid.NewGuid():N}", persistent: false, deadLetterExchange: null, MaxQueueLength, dropWhenFull: true);
            tap = new MemoryFlowTap(this, e, queue, handler);
            e.Add(new MemoryBinding(queue, ""));
            _taps.Add(tap);
        }

        tap.Start();
        return ValueTask.FromResult<IAsyncDisposable>(tap);
    }

    public ValueTask<bool> IsHealthyAsync(CancellationToken cancellationToken) => ValueTask.FromResult(Volatile.Read(ref _disposed) == 0);

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        MemoryFlowConsumer[] consumers;
        MemoryFlowTap[] taps;
        lock (_topology)
        {
            consumers = [.. _consumers];
            taps = [.. _taps];
        }

        foreach (var consumer in consumers)
        {
            await consumer.DisposeAsync().ConfigureAwait(false);
        }

        foreach (var tap in taps)
        {
            await tap.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>A message a consumer rejected without requeue: on to the queue's dead-letter exchange if it exists
    /// (RabbitMQ drops it otherwise, and so do we), never refused for a full queue.</summary>
    internal void DeadLetter(MemoryFlowQueue queue, FlowMessage message)
    {
        if (queue.DeadLetterExchange is { } name && _exchanges.TryGetValue(name, out var exchange))
        {
            Route(exchange, message.DeadLettered(name), refuse: false);
        }
    }

    internal void Forget(MemoryFlowConsumer consumer)
    {
        lock (_topology)
        {
            if (!_consumers.Remove(consumer))
            {
                return;
            }

            var queue = consumer.Queue;
            queue.Consumers--;
            if (consumer.Exclusive)
            {
                queue.HeldExclusively = false;
            }

            if (queue.Consumers == 0 && !queue.Persistent && !queue.Deleted)
            {
                DeleteQueueLocked(queue);
            }
        }
    }

    internal void Forget(MemoryFlowTap tap)
    {
        lock (_topology)
        {
            _taps.Remove(tap);
            DeleteQueueLocked(tap.Queue);
        }
    }

    /// <summary>Delivers to every queue the exchange routes to, once each however many paths lead there. Full queues
    /// are skipped; with <paramref name="refuse"/> the publisher then gets ResourceExhausted naming them.</summary>
    private void Route(MemoryFlowExchange exchange, FlowMessage message, bool refuse)
    {
        var bindings = exchange.Bindings;
        if (bindings.Length == 1 && bindings[0].Destination is MemoryFlowQueue only && Matches(exchange, bindings[0], message))
        {
            // The common case (an inport's exchange, a pubsub edge with one target) without a target list.
            List<string>? refused = null;
            Enqueue(only, message, refuse, ref refused);
            if (refused is not null)
            {
                throw Full(only);
            }

            return;
        }

        var targets = t_targets ??= [];
        targets.Clear();
        Collect(exchange, message, targets, depth: 0);
        List<string>? full = null;
        foreach (var queue in targets)
        {
            Enqueue(queue, message, refuse, ref full);
        }

        targets.Clear();
        if (full is not null)
        {
            throw new TrellisException(
                ErrorKind.ResourceExhausted,
                $"Queue(s) {string.Join(", ", full.Select(static q => $"'{q}'"))} are full ({MaxQueueLength} messages ready); the message published to '{message.Exchange}' was not delivered to them");
        }
    }

    private static void Enqueue(MemoryFlowQueue queue, FlowMessage message, bool refuse, ref List<string>? full)
    {
        if (!queue.TryEnqueue(message) && refuse && !queue.DropWhenFull && !queue.Deleted)
        {
            (full ??= []).Add(queue.Name);
        }
    }

    private static void Collect(MemoryFlowExchange exchange, FlowMessage message, List<MemoryFlowQueue> targets, int depth)
    {
        foreach (var binding in exchange.Bindings)
        {
            if (!Matches(exchange, binding, message))
            {
                continue;
            }

            switch (binding.Destination)
            {
                case MemoryFlowQueue queue when !targets.Contains(queue):
                    targets.Add(queue);
                    break;
                case MemoryFlowExchange next when depth < 16:
                    Collect(next, message, targets, depth + 1);
                    break;
            }
        }
    }

    private static bool Matches(MemoryFlowExchange exchange, MemoryBinding binding, FlowMessage message) =>
        exchange.Type == MemoryExchangeType.Fanout || string.Equals(binding.Key, message.RoutingKey, StringComparison.Ordinal);

    private MemoryFlowQueue DeclareQueueLocked(string name, bool persistent, string? deadLetterExchange)
    {
        if (_queues.TryGetValue(name, out var existing))
        {
            // RabbitMQ answers 406 PRECONDITION_FAILED to a declaration that differs from the queue's.
            if (existing.Persistent != persistent || existing.DeadLetterExchange != deadLetterExchange)
            {
                throw new TrellisException(
                    ErrorKind.FailedPrecondition,
                    $"Queue '{name}' exists with other settings ({Describe(existing.Persistent, existing.DeadLetterExchange)}) than declared ({Describe(persistent, deadLetterExchange)})");
            }

            return existing;
        }

        var queue = new MemoryFlowQueue(name, persistent, deadLetterExchange, MaxQueueLength);
        _queues[name] = queue;
        return queue;

        static string Describe(bool persistent, string? dlx) =>
            (persistent ? "durable" : "non-durable, auto-delete") + (dlx is null ? ", no dead-letter exchange" : $", x-dead-letter-exchange '{dlx}'");
    }

    private MemoryFlowExchange DeclareExchangeLocked(string name, MemoryExchangeType type, bool persistent)
    {
        if (_exchanges.TryGetValue(name, out var existing))
        {
            if (existing.Type != type || existing.Persistent != persistent)
            {
                throw new TrellisException(
                    ErrorKind.FailedPrecondition,
                    $"Exchange '{name}' exists with other settings ({Describe(existing.Type, existing.Persistent)}) than declared ({Describe(type, persistent)})");
            }

            return existing;
        }

        var exchange = new MemoryFlowExchange(name, type, persistent);
        _exchanges[name] = exchange;
        return exchange;

        static string Describe(MemoryExchangeType type, bool persistent) =>
            $"{type.ToString().ToLowerInvariant()}, {(persistent ? "durable" : "non-durable, auto-delete")}";
    }

    private MemoryFlowQueue QueueLocked(string name) => _queues.TryGetValue(name, out var queue) ? queue : throw NoQueue(name);

    private MemoryFlowExchange ExchangeLocked(string name) => _exchanges.TryGetValue(name, out var exchange) ? exchange : throw NoExchange(name);

    private void UnbindLocked(string exchange, string queue)
    {
        if (_exchanges.TryGetValue(exchange, out var e) && _queues.TryGetValue(queue, out var q) && e.RemoveWhere(b => ReferenceEquals(b.Destination, q)))
        {
            DeleteIfUnusedLocked(e);
        }
    }

    private void DeleteQueueLocked(MemoryFlowQueue queue)
    {
        queue.Delete();
        if (_queues.TryGetValue(queue.Name, out var registered) && ReferenceEquals(registered, queue))
        {
            _queues.TryRemove(queue.Name, out _);
        }

        foreach (var exchange in _exchanges.Values)
        {
            if (exchange.RemoveWhere(b => ReferenceEquals(b.Destination, queue)))
            {
                DeleteIfUnusedLocked(exchange);
            }
        }
    }

    /// <summary>An auto-delete (non-persistent) exchange goes when its last binding goes, as in RabbitMQ.</summary>
    private void DeleteIfUnusedLocked(MemoryFlowExchange exchange)
    {
        if (exchange.Persistent || exchange.Bindings.Length > 0 || exchange.Deleted)
        {
            return;
        }

        exchange.Deleted = true;
        _exchanges.TryRemove(exchange.Name, out _);
        foreach (var other in _exchanges.Values)
        {
            if (other.RemoveWhere(b => ReferenceEquals(b.Destination, exchange)))
            {
                DeleteIfUnusedLocked(other);
            }
        }
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);

    private static TrellisException NoQueue(string queue) => new(ErrorKind.NotFound, $"Queue '{queue}' not found");

    private static TrellisException NoExchange(string exchange) => new(ErrorKind.NotFound, $"Exchange '{exchange}' not found");

    private TrellisException Full(MemoryFlowQueue queue) =>
        new(ErrorKind.ResourceExhausted, $"Queue '{queue.Name}' is full ({MaxQueueLength} messages ready); the message was not delivered to it");
}
