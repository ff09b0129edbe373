namespace Trellis.Flows.Broker;

/// <summary>How a graph edge is carried on the broker, as msgflo wires it.</summary>
public enum FlowBindingKind
{
    /// <summary>The target's inqueue is bound to the source's outport exchange (fanout): every bound inport gets a copy.</summary>
    PubSub,

    /// <summary><c>msgflo/RoundRobin</c>: a direct exchange <c>out-&lt;src&gt;</c> bound to the source exchange feeds
    /// the target queue; messages the target nacks go to the fanout <c>dead-&lt;tgt&gt;</c> and on to the deadletter queue.</summary>
    RoundRobin,
}

/// <summary>One binding on the broker. <see cref="Source"/> is an outport exchange, <see cref="Target"/> an inqueue;
/// for round robin, <see cref="DeadLetter"/> is the queue that receives what the target nacks. Either end of a
/// round-robin binding may be missing while the graph names only the other (msgflo allows it).</summary>
public sealed record FlowBinding(FlowBindingKind Kind, string? Source, string? Target, string? DeadLetter = null)
{
    public static FlowBinding PubSub(string source, string target) => new(FlowBindingKind.PubSub, source, target);

    /// <summary>The line <c>msgflo-setup</c> prints for it (<c>PUBSUB:</c>, <c>ROUNDROBIN:</c>, <c>DEADLETTER:</c>).</summary>
    public IEnumerable<string> Describe()
    {
        if (Kind == FlowBindingKind.PubSub)
        {
            yield return $"PUBSUB: \t {Source} -> {Target}";
            yield break;
        }

        if (Target is not null && DeadLetter is not null)
        {
            yield return $"DEADLETTER:\t {Target} -> {DeadLetter}";
        }

        if (Target is not null && Source is not null)
        {
            yield return $"ROUNDROBIN:\t {Source} -> {Target}";
        }
    }
}

/// <summary>Options of a port's queue or exchange; <see cref="Persistent"/> false gives a non-durable, auto-deleted one
/// (msgflo's port option <c>persistent</c>).</summary>
public sealed record FlowPortOptions(bool Persistent = true)
{
    public static readonly FlowPortOptions Default = new();
}

/// <summary>How a consumer takes deliveries from a queue.</summary>
/// <param name="Prefetch">Deliveries held unacknowledged at once.</param>
/// <param name="Exclusive">The only consumer of the queue (AMQP exclusive consume): while another holds it,
/// consuming fails with a <see cref="Trellis.Core.Errors.TrellisException"/> of kind FailedPrecondition.</param>
public sealed record FlowConsumerOptions(int Prefetch = 2, bool Exclusive = false)
{
    public static readonly FlowConsumerOptions Default = new();
}

/// <summary>One message taken from a queue; acknowledge or reject it exactly once.</summary>
public abstract class FlowDelivery
{
    /// <summary>The body (msgflo sends JSON). Valid until the delivery is acknowledged or rejected; copy to keep it.</summary>
    public abstract ReadOnlyMemory<byte> Body { get; }

    /// <summary>The exchange it was published to ("" when sent straight to the queue).</summary>
    public abstract string Exchange { get; }

    /// <summary>W3C trace context from the message headers, if any.</summary>
    public virtual string? TraceParent => null;

    public abstract bool Redelivered { get; }

    public abstract ValueTask AckAsync();

    /// <summary>Rejects the delivery; without requeue it goes to the queue's dead-letter exchange (<c>dead-&lt;queue&gt;</c>)
    /// if that exists, else it is dropped.</summary>
    public abstract ValueTask NackAsync(bool requeue = false);
}

public delegate ValueTask FlowDeliveryHandler(FlowDelivery delivery, CancellationToken cancellationToken);

/// <summary>A copy of a message seen on an exchange by a tap (no acknowledgement).</summary>
public delegate ValueTask FlowTapHandler(string exchange, ReadOnlyMemory<byte> body, CancellationToken cancellationToken);

/// <summary>The broker topology MsgFlo participants use, so that Trellis wires flows exactly as msgflo does and
/// participants need nothing but the broker: an inport is a durable queue (dead-letter exchange
/// <c>dead-&lt;queue&gt;</c>) with a fanout exchange of the same name bound to it; an outport is a fanout exchange;
/// edges are bindings. The in-process broker builds the same topology in memory, so flows run in the
/// all-in-one default without a server, and one conformance suite holds both to it.</summary>
/// <remarks>Names are the broker's: queue names like <c>repeat.IN</c>, exchange names like <c>repeat.OUT</c>.
/// An operation on a queue or exchange that does not exist fails with a <see cref="Trellis.Core.Errors.TrellisException"/>
/// of kind NotFound naming it, and the broker stays usable.</remarks>
public interface IFlowBroker : IAsyncDisposable
{
    /// <summary>"inmemory" or "rabbitmq".</summary>
    string Name { get; }

    /// <summary>Connects. Safe to call more than once.</summary>
    ValueTask StartAsync(CancellationToken cancellationToken);

    /// <summary>Declares an inport as msgflo-nodejs does: the queue (dead-letter exchange <c>dead-&lt;queue&gt;</c>),
    /// a fanout exchange of the same name, and a binding between them. Idempotent.</summary>
    ValueTask DeclareInportAsync(string queue, FlowPortOptions options, CancellationToken cancellationToken);

    /// <summary>Declares an outport: a fanout exchange. Idempotent.</summary>
    ValueTask DeclareOutportAsync(string exchange, FlowPortOptions options, CancellationToken cancellationToken);

    /// <summary>Declares a plain durable queue with default arguments (the <c>fbp</c> discovery queue, a deadletter queue),
    /// as <c>assertQueue(name)</c> does. Idempotent.</summary>
    ValueTask DeclareQueueAsync(string queue, CancellationToken cancellationToken);

    ValueTask<bool> QueueExistsAsync(string queue, CancellationToken cancellationToken);

    ValueTask<bool> ExchangeExistsAsync(string exchange, CancellationToken cancellationToken);

    /// <summary>Adds a binding (declaring the exchanges a round-robin binding needs). Idempotent.</summary>
    ValueTask AddBindingAsync(FlowBinding binding, CancellationToken cancellationToken);

    /// <summary>Removes a binding; removing one that is not there is not an error.</summary>
    ValueTask RemoveBindingAsync(FlowBinding binding, CancellationToken cancellationToken);

    /// <summary>Sends straight to a queue (the default exchange), as IIPs and <c>msgflo-send-message</c> do.</summary>
    ValueTask SendToQueueAsync(string queue, ReadOnlyMemory<byte> body, string? traceParent, CancellationToken cancellationToken);

    /// <summary>Publishes to an exchange (an outport).</summary>
    ValueTask PublishAsync(string exchange, ReadOnlyMemory<byte> body, string? traceParent, CancellationToken cancellationToken);

    /// <summary>Consumes a queue that exists. Disposing the result cancels the consumer; what it had not acknowledged is
    /// delivered again to another consumer.</summary>
    ValueTask<IAsyncDisposable> ConsumeAsync(string queue, FlowConsumerOptions options, FlowDeliveryHandler handler, CancellationToken cancellationToken);

    /// <summary>Sees a copy of every message published to an exchange from now on, through a temporary queue that is
    /// deleted with the tap (how exported outports and watched edges are read). Disposing stops it.</summary>
    ValueTask<IAsyncDisposable> TapAsync(string exchange, FlowTapHandler handler, CancellationToken cancellationToken);

    /// <summary>True while the broker can be used (for /readyz).</summary>
    ValueTask<bool> IsHealthyAsync(CancellationToken cancellationToken);
}
