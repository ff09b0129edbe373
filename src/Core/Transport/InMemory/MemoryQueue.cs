using System.Threading.Channels;

namespace Trellis.Core.Transport.InMemory;

/// <summary>A named queue: ready messages in a channel shared by its competing consumers.</summary>
/// <remarks>Like a RabbitMQ queue with <c>x-max-length</c> and <c>x-overflow=reject-publish</c>, only ready
/// messages count towards the limit; messages given back by a consumer are always taken.</remarks>
internal sealed class MemoryQueue
{
    private readonly Channel<QueuedMessage> _ready =
        Channel.CreateUnbounded<QueuedMessage>(new UnboundedChannelOptions { SingleReader = false, SingleWriter = false });

    public MemoryQueue(string name, QueueSpec spec)
    {
        Name = name;
        Spec = spec;
    }

    public string Name { get; }

    public QueueSpec Spec { get; }

    /// <summary>Guarded by the broker's topology lock.</summary>
    public int Consumers { get; set; }

    /// <summary>A <see cref="QueueSpec.SingleConsumer"/> consumer holds the queue (guarded by the topology lock).</summary>
    public bool HeldBySingleConsumer { get; set; }

    /// <summary>Ready messages (an unbounded channel counts its items without a shared counter).</summary>
    public int ReadyCount => _ready.Reader.Count;

    public ChannelReader<QueuedMessage> Reader => _ready.Reader;

    /// <summary>Takes a message unless the queue is full. Publishers racing each other may overshoot the
    /// limit by their number, never more: a bound without a counter every consumer must touch.</summary>
    public bool TryEnqueue(TransportMessage message) =>
        _ready.Reader.Count < Spec.MaxLength && _ready.Writer.TryWrite(new QueuedMessage(message, false));

    /// <summary>Puts back a message a consumer held but did not acknowledge.</summary>
    public void Requeue(TransportMessage message) => _ready.Writer.TryWrite(new QueuedMessage(message, true));

    public void Delete() => _ready.Writer.TryComplete();
}

internal readonly record struct QueuedMessage(TransportMessage Message, bool Redelivered);
