using System.Threading.Channels;

namespace Trellis.Flows.Broker.InMemory;

/// <summary>A message as the in-process broker holds it: the body copied once at publish and shared by every queue it is routed to.</summary>
internal sealed class FlowMessage(byte[] body, string exchange, string routingKey, string? traceParent)
{
    public byte[] Body { get; } = body;

    /// <summary>The exchange it was published to ("" when sent to a queue, the dead-letter exchange once dead-lettered).</summary>
    public string Exchange { get; } = exchange;

    public string RoutingKey { get; } = routingKey;

    public string? TraceParent { get; } = traceParent;

    public FlowMessage DeadLettered(string exchange) => new(Body, exchange, RoutingKey, TraceParent);
}

internal readonly record struct QueuedFlowMessage(FlowMessage Message, bool Redelivered);

/// <summary>A queue: ready messages in a channel its competing consumers read in turn.</summary>
/// <remarks>Only ready messages count towards the length limit, as RabbitMQ's <c>x-max-length</c> counts them; messages
/// given back by a consumer are always taken. The consumer bookkeeping is guarded by the broker's topology lock.</remarks>
internal sealed class MemoryFlowQueue(string name, bool persistent, string? deadLetterExchange, int maxLength, bool dropWhenFull = false)
{
    private readonly Channel<QueuedFlowMessage> _ready =
        Channel.CreateUnbounded<QueuedFlowMessage>(new UnboundedChannelOptions { SingleReader = false, SingleWriter = false });

    public string Name { get; } = name;

    /// <summary>Durable and kept; a non-persistent queue is deleted when its last consumer goes.</summary>
    public bool Persistent { get; } = persistent;

    public string? DeadLetterExchange { get; } = deadLetterExchange;

    /// <summary>A tap's queue: a message it has no room for is dropped instead of refused to the publisher.</summary>
    public bool DropWhenFull { get; } = dropWhenFull;

    public int MaxLength { get; } = maxLength;

    public int Consumers { get; set; }

    public bool HeldExclusively { get; set; }

    public bool Deleted { get; private set; }

    public int ReadyCount => _ready.Reader.Count;

    public ChannelReader<QueuedFlowMessage> Reader => _ready.Reader;

    /// <summary>Takes a message unless the queue is full. Publishers racing each other may overshoot the limit by their
    /// number, never more: a bound without a counter every consumer must touch.</summary>
    public bool TryEnqueue(FlowMessage message) =>
        _ready.Reader.Count < MaxLength && _ready.Writer.TryWrite(new QueuedFlowMessage(message, false));

    /// <summary>Puts back a message a consumer held and did not acknowledge (behind what is waiting).</summary>
    public void Requeue(FlowMessage message) => _ready.Writer.TryWrite(new QueuedFlowMessage(message, true));

    public void Delete()
    {
        Deleted = true;
        _ready.Writer.TryComplete();
    }
}
