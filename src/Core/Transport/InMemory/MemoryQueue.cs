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
    public EnqueueResult TryEnqueue(TransportMessage message)
    {
        if (_ready.Reader.Count >= Spec.MaxLength)
        {
            return _ready.Reader.Completion.IsCompleted ? EnqueueResult.Deleted : EnqueueResult.Full;
        }

        return _ready.Writer.TryWrite(new QueuedMessage(message, false)) ? EnqueueResult.Queued : EnqueueResult.Deleted;
    }

    /// <summary>Puts back a message a consumer held but did not acknowledge.</summary>
    public void Requeue(TransportMessage message) => _ready.Writer.TryWrite(new QueuedMessage(message, true));

    /// <summary>Deletes the queue: it takes nothing more, and the messages still ready in it are returned
    /// (a requester of one of them should learn that nobody serves its topic any more).</summary>
    public List<TransportMessage> Delete()
    {
        _ready.Writer.TryComplete();
        var left = new List<TransportMessage>();
        while (_ready.Reader.TryRead(out var item))
        {
            left.Add(item.Message);
        }

        return left;
    }
}

internal enum EnqueueResult
{
    Queued,
    Full,
    Deleted,
}

internal readonly record struct QueuedMessage(TransportMessage Message, bool Redelivered);
