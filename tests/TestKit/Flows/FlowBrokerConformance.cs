using System.Collections.Concurrent;
using System.Text;
using Trellis.Core.Errors;
using Trellis.Flows.Broker;
using Xunit;

namespace Trellis.TestKit.Flows;

/// <summary>msgflo's broker topology and semantics, held against one <see cref="IFlowBroker"/>. Each backend is a
/// subclass that says how to make a new, not yet started broker connected to the server under test.</summary>
public abstract class FlowBrokerConformance : IAsyncLifetime
{
    private readonly List<IFlowBroker> _brokers = [];
    private readonly List<IAsyncDisposable> _subscriptions = [];
    private readonly string _prefix = $"fc{Guid.NewGuid():N}"[..12];

    /// <summary>A new broker on the server under test (the suite starts and disposes it).</summary>
    protected abstract IFlowBroker CreateBroker();

    public virtual ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public virtual async ValueTask DisposeAsync()
    {
        foreach (var subscription in _subscriptions)
        {
            await subscription.DisposeAsync();
        }

        foreach (var broker in _brokers)
        {
            await broker.DisposeAsync();
        }

        GC.SuppressFinalize(this);
    }

    /// <summary>A started broker, disposed with the test.</summary>
    protected async Task<IFlowBroker> BrokerAsync()
    {
        var broker = CreateBroker();
        _brokers.Add(broker);
        await broker.StartAsync(default).AsTask().Within("the broker to start");
        return broker;
    }

    /// <summary>A queue or exchange name no other test uses, msgflo-style (<c>role.PORT</c>).</summary>
    protected string Name(string name) => $"{_prefix}.{name}";

    protected static ReadOnlyMemory<byte> Json(string text) => Encoding.UTF8.GetBytes(text);

    // ------------------------------------------------------------------ msgflo's wiring

    [Fact]
    public async Task Pubsub_fans_out_to_every_bound_inqueue()
    {
        var broker = await BrokerAsync();
        var (outport, a, b) = (Name("src.OUT"), Name("a.IN"), Name("b.IN"));
        await broker.DeclareOutportAsync(outport, FlowPortOptions.Default, default);
        await broker.DeclareInportAsync(a, FlowPortOptions.Default, default);
        await broker.DeclareInportAsync(b, FlowPortOptions.Default, default);
        await broker.AddBindingAsync(FlowBinding.PubSub(outport, a), default);
        await broker.AddBindingAsync(FlowBinding.PubSub(outport, b), default);
        var atA = await CollectAsync(broker, a);
        var atB = await CollectAsync(broker, b);

        for (var i = 0; i < 5; i++)
        {
            await broker.PublishAsync(outport, Json($"{{\"n\":{i}}}"), null, default);
        }

        await atA.WaitForAsync(5, $"five messages on {a}");
        await atB.WaitForAsync(5, $"five messages on {b}");
        string[] expected = ["{\"n\":0}", "{\"n\":1}", "{\"n\":2}", "{\"n\":3}", "{\"n\":4}"];
        Assert.Equal(expected, atA.Bodies);
        Assert.Equal(expected, atB.Bodies);
        Assert.All(atA.Deliveries, d => Assert.Equal(outport, d.Exchange));
        Assert.All(atA.Deliveries, d => Assert.False(d.Redelivered));
    }

    [Fact]
    public async Task Competing_consumers_of_one_inqueue_each_get_different_messages()
    {
        var broker = await BrokerAsync();
        var queue = Name("worker.IN");
        await broker.DeclareInportAsync(queue, FlowPortOptions.Default, default);
        var first = await CollectAsync(broker, queue, ack: false, prefetch: 1);
        var second = await CollectAsync(broker, queue, ack: false, prefetch: 1);

        // Each holds one unacknowledged message at most, so two messages must go one to each.
        await broker.PublishAsync(queue, Json("1"), null, default);
        await broker.PublishAsync(queue, Json("2"), null, default);
        await first.WaitForAsync(1, "the first consumer's message");
        await second.WaitForAsync(1, "the second consumer's message");

        first.AutoAck = second.AutoAck = true;
        await first.AckAllAsync();
        await second.AckAllAsync();
        for (var i = 3; i <= 10; i++)
        {
            await broker.PublishAsync(queue, Json($"{i}"), null, default);
        }

        await Waits.UntilAsync(() => Task.FromResult(first.Count + second.Count), n => n >= 10, $"ten messages between the consumers of {queue}");
        var all = first.Bodies.Concat(second.Bodies).Select(int.Parse).Order().ToArray();
        Assert.Equal(Enumerable.Range(1, 10), all);
    }

    [Fact]
    public async Task Round_robin_sends_what_the_target_nacks_to_the_deadletter_queue()
    {
        var broker = await BrokerAsync();
        var (outport, target, deadletter) = (Name("src.OUT"), Name("tgt.IN"), Name("tgt.DEADLETTER"));
        await broker.DeclareOutportAsync(outport, FlowPortOptions.Default, default);
        await broker.DeclareInportAsync(target, FlowPortOptions.Default, default);
        await broker.DeclareQueueAsync(deadletter, default);
        var binding = new FlowBinding(FlowBindingKind.RoundRobin, outport, target, deadletter);
        await broker.AddBindingAsync(binding, default);
        Assert.True(await broker.ExchangeExistsAsync(FlowNames.RoundRobinExchange(outport), default), "out-<src> exists");
        Assert.True(await broker.ExchangeExistsAsync(FlowNames.DeadLetterExchange(target), default), "dead-<tgt> exists");

        var seen = new Collector();
        _subscriptions.Add(await broker.ConsumeAsync(target, FlowConsumerOptions.Default, async (delivery, _) =>
        {
            var body = Encoding.UTF8.GetString(delivery.Body.Span);
            if (body.Contains("bad", StringComparison.Ordinal))
            {
                seen.Add(delivery, body);
                await delivery.NackAsync();
            }
            else
            {
                seen.Add(delivery, body);
                await delivery.AckAsync();
            }
        }, default));
        var dead = await CollectAsync(broker, deadletter);

        await broker.PublishAsync(outport, Json("\"good 1\""), null, default);
        await broker.PublishAsync(outport, Json("\"bad\""), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", default);
        await broker.PublishAsync(outport, Json("\"good 2\""), null, default);

        await seen.WaitForAsync(3, $"three messages on {target}");
        await dead.WaitForAsync(1, $"the nacked message on {deadletter}");
        Assert.Equal(["\"bad\""], dead.Bodies);
        Assert.Equal(FlowNames.DeadLetterExchange(target), dead.Deliveries[0].Exchange);
        Assert.Equal("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", dead.Deliveries[0].TraceParent);
        Assert.Equal(["\"good 1\"", "\"bad\"", "\"good 2\""], seen.Bodies);

        // Removing it stops the delivery to the target; removing again is no error.
        await broker.RemoveBindingAsync(binding, default);
        await broker.RemoveBindingAsync(binding, default);
        await broker.PublishAsync(outport, Json("\"after removal\""), null, default);
        await broker.SendToQueueAsync(target, Json("\"marker\""), null, default);
        await seen.WaitForAsync(4, $"the marker on {target}");
        Assert.Equal("\"marker\"", seen.Bodies[3]);
    }

    [Fact]
    public async Task Removing_a_pubsub_binding_stops_delivery_and_is_idempotent()
    {
        var broker = await BrokerAsync();
        var (outport, kept, removed) = (Name("src.OUT"), Name("kept.IN"), Name("removed.IN"));
        await broker.DeclareOutportAsync(outport, FlowPortOptions.Default, default);
        await broker.DeclareInportAsync(kept, FlowPortOptions.Default, default);
        await broker.DeclareInportAsync(removed, FlowPortOptions.Default, default);
        await broker.AddBindingAsync(FlowBinding.PubSub(outport, kept), default);
        await broker.AddBindingAsync(FlowBinding.PubSub(outport, removed), default);
        var atKept = await CollectAsync(broker, kept);
        var atRemoved = await CollectAsync(broker, removed);

        await broker.PublishAsync(outport, Json("\"before\""), null, default);
        await atKept.WaitForAsync(1, $"the first message on {kept}");
        await atRemoved.WaitForAsync(1, $"the first message on {removed}");

        await broker.RemoveBindingAsync(FlowBinding.PubSub(outport, removed), default);
        await broker.RemoveBindingAsync(FlowBinding.PubSub(outport, removed), default);
        await broker.RemoveBindingAsync(FlowBinding.PubSub(Name("nowhere.OUT"), Name("nobody.IN")), default);
        await broker.PublishAsync(outport, Json("\"after\""), null, default);
        await atKept.WaitForAsync(2, $"the second message on {kept}");

        // Had "after" been routed to the removed queue, it would come before this marker.
        await broker.SendToQueueAsync(removed, Json("\"marker\""), null, default);
        await atRemoved.WaitForAsync(2, $"the marker on {removed}");
        Assert.Equal(["\"before\"", "\"marker\""], atRemoved.Bodies);
        Assert.Equal(["\"before\"", "\"after\""], atKept.Bodies);
    }

    [Fact]
    public async Task Send_to_queue_delivers_like_an_iip_with_its_trace_context()
    {
        var broker = await BrokerAsync();
        var queue = Name("repeat.IN");
        await broker.DeclareInportAsync(queue, FlowPortOptions.Default, default);
        const string TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        await broker.SendToQueueAsync(queue, Json("{\"iip\":true}"), TraceParent, default);
        await broker.PublishAsync(queue, Json("{\"published\":true}"), null, default);

        var at = await CollectAsync(broker, queue);
        await at.WaitForAsync(2, $"the IIP and the published message on {queue}");
        Assert.Equal(["{\"iip\":true}", "{\"published\":true}"], at.Bodies);
        Assert.Equal("", at.Deliveries[0].Exchange);
        Assert.Equal(TraceParent, at.Deliveries[0].TraceParent);
        Assert.Equal(queue, at.Deliveries[1].Exchange);
        Assert.Null(at.Deliveries[1].TraceParent);
    }

    [Fact]
    public async Task A_tap_sees_every_publish_until_disposed()
    {
        var broker = await BrokerAsync();
        var (outport, inport) = (Name("src.OUT"), Name("tgt.IN"));
        await broker.DeclareOutportAsync(outport, FlowPortOptions.Default, default);
        await broker.DeclareInportAsync(inport, FlowPortOptions.Default, default);
        await broker.AddBindingAsync(FlowBinding.PubSub(outport, inport), default);
        var tapped = new ConcurrentQueue<(string Exchange, string Body)>();
        var count = new CountdownSignal();
        var tap = await broker.TapAsync(outport, (exchange, body, _) =>
        {
            tapped.Enqueue((exchange, Encoding.UTF8.GetString(body.Span)));
            count.Increment();
            return ValueTask.CompletedTask;
        }, default);
        var second = new CountdownSignal();
        _subscriptions.Add(await broker.TapAsync(outport, (_, _, _) =>
        {
            second.Increment();
            return ValueTask.CompletedTask;
        }, default));
        var atInport = await CollectAsync(broker, inport);

        for (var i = 0; i < 3; i++)
        {
            await broker.PublishAsync(outport, Json($"{i}"), null, default);
        }

        await count.WaitForAsync(3, $"three messages through the tap on {outport}");
        await second.WaitForAsync(3, $"three messages through the second tap on {outport}");
        await atInport.WaitForAsync(3, $"three messages on {inport} beside the taps");
        Assert.Equal([(outport, "0"), (outport, "1"), (outport, "2")], tapped.ToArray());

        await tap.DisposeAsync();
        await broker.PublishAsync(outport, Json("3"), null, default);
        await second.WaitForAsync(4, "the fourth message through the remaining tap");
        await atInport.WaitForAsync(4, $"the fourth message on {inport}");
        Assert.Equal(3, count.Count);
    }

    // ------------------------------------------------------------------ consumers

    [Fact]
    public async Task An_exclusive_consumer_is_refused_while_another_holds_the_queue_and_granted_after()
    {
        var broker = await BrokerAsync();
        var queue = Name("single.IN");
        await broker.DeclareInportAsync(queue, FlowPortOptions.Default, default);
        var exclusive = new FlowConsumerOptions(Exclusive: true);
        var holder = await broker.ConsumeAsync(queue, exclusive, static (d, _) => d.AckAsync(), default);

        var refused = await Assert.ThrowsAsync<TrellisException>(async () => await broker.ConsumeAsync(queue, exclusive, static (d, _) => d.AckAsync(), default));
        Assert.Equal(ErrorKind.FailedPrecondition, refused.Kind);
        var shared = await Assert.ThrowsAsync<TrellisException>(async () => await broker.ConsumeAsync(queue, FlowConsumerOptions.Default, static (d, _) => d.AckAsync(), default));
        Assert.Equal(ErrorKind.FailedPrecondition, shared.Kind);

        await holder.DisposeAsync();
        var at = await CollectAsync(broker, queue, options: exclusive);
        await broker.SendToQueueAsync(queue, Json("\"mine\""), null, default);
        await at.WaitForAsync(1, $"a message for the new exclusive consumer of {queue}");

        // A queue with a consumer refuses an exclusive one too.
        var other = Name("shared.IN");
        await broker.DeclareInportAsync(other, FlowPortOptions.Default, default);
        await CollectAsync(broker, other);
        var busy = await Assert.ThrowsAsync<TrellisException>(async () => await broker.ConsumeAsync(other, exclusive, static (d, _) => d.AckAsync(), default));
        Assert.Equal(ErrorKind.FailedPrecondition, busy.Kind);
    }

    [Fact]
    public async Task What_a_disposed_consumer_did_not_acknowledge_is_redelivered()
    {
        var broker = await BrokerAsync();
        var queue = Name("redeliver.IN");
        await broker.DeclareInportAsync(queue, FlowPortOptions.Default, default);
        var first = await CollectAsync(broker, queue, ack: false, prefetch: 5);
        await broker.SendToQueueAsync(queue, Json("\"a\""), null, default);
        await broker.SendToQueueAsync(queue, Json("\"b\""), null, default);
        await first.WaitForAsync(2, $"two unacknowledged messages on {queue}");
        await first.Deliveries[0].AckAsync();
        await first.Subscription!.DisposeAsync();

        var second = await CollectAsync(broker, queue);
        await second.WaitForAsync(1, $"the unacknowledged message redelivered on {queue}");
        Assert.Equal(["\"b\""], second.Bodies);
        Assert.True(second.Deliveries[0].Redelivered, "the redelivered message is marked so");
    }

    [Fact]
    public async Task Nack_with_requeue_delivers_again_and_a_throwing_handler_rejects()
    {
        var broker = await BrokerAsync();
        var (queue, deadletter) = (Name("retry.IN"), Name("retry.DEADLETTER"));
        await broker.DeclareInportAsync(queue, FlowPortOptions.Default, default);
        await broker.DeclareQueueAsync(deadletter, default);
        await broker.AddBindingAsync(new FlowBinding(FlowBindingKind.RoundRobin, null, queue, deadletter), default);
        var dead = await CollectAsync(broker, deadletter);
        var seen = new Collector();
        _subscriptions.Add(await broker.ConsumeAsync(queue, FlowConsumerOptions.Default, async (delivery, _) =>
        {
            var body = Encoding.UTF8.GetString(delivery.Body.Span);
            seen.Add(delivery, body);
            if (body == "\"throw\"")
            {
                throw new InvalidOperationException("the handler fails");
            }

            if (!delivery.Redelivered)
            {
                await delivery.NackAsync(requeue: true);
                return;
            }

            await delivery.AckAsync();
        }, default));

        await broker.SendToQueueAsync(queue, Json("\"again\""), null, default);
        await seen.WaitForAsync(2, $"the requeued message again on {queue}");
        Assert.Equal(["\"again\"", "\"again\""], seen.Bodies);
        Assert.True(seen.Deliveries[1].Redelivered, "a requeued message comes back marked redelivered");

        await broker.SendToQueueAsync(queue, Json("\"throw\""), null, default);
        await dead.WaitForAsync(1, $"the message whose handler threw on {deadletter}");
        Assert.Equal(["\"throw\""], dead.Bodies);
    }

    [Fact]
    public async Task A_consumer_holds_no_more_unacknowledged_deliveries_than_its_prefetch()
    {
        var broker = await BrokerAsync();
        var queue = Name("window.IN");
        await broker.DeclareInportAsync(queue, FlowPortOptions.Default, default);
        var holder = await CollectAsync(broker, queue, ack: false, prefetch: 3);
        for (var i = 0; i < 10; i++)
        {
            await broker.SendToQueueAsync(queue, Json($"{i}"), null, default);
        }

        await holder.WaitForAsync(3, $"the first consumer's window on {queue}");

        // A second consumer that acknowledges drains the rest; the first never acknowledges, so whatever it got
        // beyond its window would be missing here.
        var drainer = await CollectAsync(broker, queue);
        await Waits.UntilAsync(
            () => Task.FromResult(holder.Count + drainer.Count), n => n >= 10, $"all ten messages of {queue} between the two consumers");
        Assert.Equal(3, holder.Count);
        Assert.Equal(7, drainer.Count);
        Assert.Equal(["0", "1", "2"], holder.Bodies);
    }

    // ------------------------------------------------------------------ declarations and errors

    [Fact]
    public async Task Declarations_and_bindings_are_idempotent()
    {
        var broker = await BrokerAsync();
        var (outport, inport, plain) = (Name("src.OUT"), Name("tgt.IN"), Name("plain"));
        for (var i = 0; i < 2; i++)
        {
            await broker.DeclareOutportAsync(outport, FlowPortOptions.Default, default);
            await broker.DeclareInportAsync(inport, FlowPortOptions.Default, default);
            await broker.DeclareQueueAsync(plain, default);
            await broker.AddBindingAsync(FlowBinding.PubSub(outport, inport), default);
        }

        Assert.True(await broker.QueueExistsAsync(inport, default), $"{inport} exists");
        Assert.True(await broker.ExchangeExistsAsync(inport, default), $"the exchange {inport} of the inport exists");
        Assert.True(await broker.ExchangeExistsAsync(outport, default), $"{outport} exists");
        Assert.True(await broker.QueueExistsAsync(plain, default), $"{plain} exists");
        Assert.False(await broker.ExchangeExistsAsync(plain, default), $"a plain queue {plain} has no exchange");
        Assert.True(await broker.IsHealthyAsync(default), "healthy");
        Assert.False(string.IsNullOrEmpty(broker.Name));

        var at = await CollectAsync(broker, inport);
        await broker.PublishAsync(outport, Json("\"once\""), null, default);
        await broker.SendToQueueAsync(inport, Json("\"marker\""), null, default);
        await at.WaitForAsync(2, $"the message and the marker on {inport}");
        Assert.Equal(["\"once\"", "\"marker\""], at.Bodies);
    }

    [Fact]
    public async Task Missing_queues_and_exchanges_are_not_found_by_name_and_the_broker_stays_usable()
    {
        var broker = await BrokerAsync();
        var (queue, exchange) = (Name("missing.IN"), Name("missing.OUT"));
        Assert.False(await broker.QueueExistsAsync(queue, default));
        Assert.False(await broker.ExchangeExistsAsync(exchange, default));

        await NotFound(() => broker.PublishAsync(exchange, Json("1"), null, default), exchange);
        await NotFound(() => broker.SendToQueueAsync(queue, Json("1"), null, default), queue);
        await NotFound(async () => await broker.ConsumeAsync(queue, FlowConsumerOptions.Default, static (d, _) => d.AckAsync(), default), queue);
        await NotFound(async () => await broker.TapAsync(exchange, static (_, _, _) => ValueTask.CompletedTask, default), exchange);

        var (outport, inport) = (Name("there.OUT"), Name("there.IN"));
        await broker.DeclareOutportAsync(outport, FlowPortOptions.Default, default);
        await broker.DeclareInportAsync(inport, FlowPortOptions.Default, default);
        await NotFound(() => broker.AddBindingAsync(FlowBinding.PubSub(exchange, inport), default), exchange);
        await NotFound(() => broker.AddBindingAsync(FlowBinding.PubSub(outport, queue), default), queue);

        var at = await CollectAsync(broker, inport);
        await broker.AddBindingAsync(FlowBinding.PubSub(outport, inport), default);
        await broker.PublishAsync(outport, Json("\"still working\""), null, default);
        await at.WaitForAsync(1, $"a message on {inport} after the errors");
        Assert.True(await broker.IsHealthyAsync(default), "healthy after the errors");

        static async Task NotFound(Func<ValueTask> act, string name)
        {
            var e = await Assert.ThrowsAsync<TrellisException>(async () => await act());
            Assert.Equal(ErrorKind.NotFound, e.Kind);
            Assert.Contains(name, e.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Non_persistent_ports_go_with_their_last_consumer_and_conflicting_declarations_fail()
    {
        var broker = await BrokerAsync();
        var transient = new FlowPortOptions(Persistent: false);
        var (inport, outport) = (Name("temp.IN"), Name("temp.OUT"));
        await broker.DeclareInportAsync(inport, transient, default);
        await broker.DeclareInportAsync(inport, transient, default);
        await broker.DeclareOutportAsync(outport, transient, default);
        await broker.AddBindingAsync(FlowBinding.PubSub(outport, inport), default);
        var at = await CollectAsync(broker, inport);
        await broker.PublishAsync(outport, Json("\"transient\""), null, default);
        await at.WaitForAsync(1, $"a message on the non-persistent {inport}");

        var conflict = await Assert.ThrowsAsync<TrellisException>(async () => await broker.DeclareInportAsync(inport, FlowPortOptions.Default, default));
        Assert.Equal(ErrorKind.FailedPrecondition, conflict.Kind);
        Assert.Contains(inport, conflict.Message, StringComparison.Ordinal);
        var outConflict = await Assert.ThrowsAsync<TrellisException>(async () => await broker.DeclareOutportAsync(outport, FlowPortOptions.Default, default));
        Assert.Equal(ErrorKind.FailedPrecondition, outConflict.Kind);
        Assert.Contains(outport, outConflict.Message, StringComparison.Ordinal);

        await at.Subscription!.DisposeAsync();
        await Waits.UntilAsync(() => broker.QueueExistsAsync(inport, default).AsTask(), exists => !exists, $"the non-persistent queue {inport} to go with its consumer");
        await Waits.UntilAsync(() => broker.ExchangeExistsAsync(inport, default).AsTask(), exists => !exists, $"the non-persistent exchange {inport} to go with its queue");

        // The broker is still usable, and the names are free for a persistent port.
        await broker.DeclareInportAsync(inport, FlowPortOptions.Default, default);
        Assert.True(await broker.QueueExistsAsync(inport, default));
    }

    [Fact]
    public async Task A_plain_queue_declaration_conflicts_with_an_inport_of_the_same_name()
    {
        var broker = await BrokerAsync();
        var inport = Name("both.IN");
        await broker.DeclareInportAsync(inport, FlowPortOptions.Default, default);

        // The inport has x-dead-letter-exchange, a plain queue none: RabbitMQ finds them inequivalent (406).
        var conflict = await Assert.ThrowsAsync<TrellisException>(async () => await broker.DeclareQueueAsync(inport, default));
        Assert.Equal(ErrorKind.FailedPrecondition, conflict.Kind);
        Assert.Contains(inport, conflict.Message, StringComparison.Ordinal);

        var plain = Name("plain");
        await broker.DeclareQueueAsync(plain, default);
        var reverse = await Assert.ThrowsAsync<TrellisException>(async () => await broker.DeclareInportAsync(plain, FlowPortOptions.Default, default));
        Assert.Equal(ErrorKind.FailedPrecondition, reverse.Kind);
        Assert.True(await broker.QueueExistsAsync(inport, default), "the broker is usable after the refusals");
    }

    [Fact]
    public async Task Bad_names_are_invalid_arguments()
    {
        var broker = await BrokerAsync();
        var empty = await Assert.ThrowsAsync<TrellisException>(async () => await broker.DeclareInportAsync("", FlowPortOptions.Default, default));
        Assert.Equal(ErrorKind.InvalidArgument, empty.Kind);
        var reserved = await Assert.ThrowsAsync<TrellisException>(async () => await broker.DeclareOutportAsync("amq.mine", FlowPortOptions.Default, default));
        Assert.Equal(ErrorKind.InvalidArgument, reserved.Kind);
        Assert.Contains("amq.", reserved.Message, StringComparison.Ordinal);
        var prefetch = await Assert.ThrowsAsync<TrellisException>(async () =>
            await broker.ConsumeAsync(Name("x.IN"), new FlowConsumerOptions(Prefetch: 0), static (d, _) => d.AckAsync(), default));
        Assert.Equal(ErrorKind.InvalidArgument, prefetch.Kind);
    }

    // ------------------------------------------------------------------ helpers

    /// <summary>Consumes <paramref name="queue"/> into a collector (disposed with the test).</summary>
    protected async Task<Collector> CollectAsync(IFlowBroker broker, string queue, bool ack = true, int prefetch = 16, FlowConsumerOptions? options = null)
    {
        var collector = new Collector { AutoAck = ack };
        collector.Subscription = await broker.ConsumeAsync(queue, options ?? new FlowConsumerOptions(prefetch), collector.HandleAsync, default);
        _subscriptions.Add(collector.Subscription);
        return collector;
    }

    /// <summary>What a consumer received, in order, with the bodies copied.</summary>
    protected sealed class Collector
    {
        private readonly Lock _lock = new();
        private readonly List<FlowDelivery> _deliveries = [];
        private readonly List<string> _bodies = [];
        private readonly CountdownSignal _count = new();

        public bool AutoAck { get; set; } = true;

        public IAsyncDisposable? Subscription { get; set; }

        public int Count => _count.Count;

        public IReadOnlyList<FlowDelivery> Deliveries
        {
            get
            {
                lock (_lock)
                {
                    return [.. _deliveries];
                }
            }
        }

        public IReadOnlyList<string> Bodies
        {
            get
            {
                lock (_lock)
                {
                    return [.. _bodies];
                }
            }
        }

        public async ValueTask HandleAsync(FlowDelivery delivery, CancellationToken cancellationToken)
        {
            // Recorded before the acknowledgement, so that the order is the delivery order.
            Add(delivery, Encoding.UTF8.GetString(delivery.Body.Span));
            if (AutoAck)
            {
                await delivery.AckAsync();
            }
        }

        public void Add(FlowDelivery delivery, string body)
        {
            lock (_lock)
            {
                _deliveries.Add(delivery);
                _bodies.Add(body);
            }

            _count.Increment();
        }

        public async Task AckAllAsync()
        {
            foreach (var delivery in Deliveries)
            {
                await delivery.AckAsync();
            }
        }

        public Task WaitForAsync(int count, string what) => _count.WaitForAsync(count, what);
    }
}
