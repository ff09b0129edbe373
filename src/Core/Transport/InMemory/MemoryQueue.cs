using System.Threading.Channels;

namespace Trellis.Core.Transport.InMemory;

/// <summary>A named queue: ready messages in a channel shared by its competing consumers.</summary>
/// <remarks>Like a RabbitMQ queue with <c>x-max-length</c> and <c>x-overflow=reject-publish</c>, only ready
/// messages count towards the limit; messages given back by a consumer are always taken.</remarks>
internal sealed class MemoryQueue
{
    private readonly Channel<QueuedMessage> _ready =
        Channel.CreateUnbounded<QueuedMessage>(new UnboundedChannelOptions { SingleReader = false, SingleWriter = false });

    private int _readyCount;

    public MemoryQueue(string name, QueueSpec spec)
    {
        Name = name;
        Spec = spec;
    }

    public string Name { get; }

    public QueueSpec Spec { get; }

    /// <summary>Guarded by the broker's topology lock.</summary>
    public int Consumers { get; set; }

    public int ReadyCount => Volatile.Read(ref _readyCount);

    public ChannelReader<QueuedMessage> Reader => _ready.Reader;

    public bool TryEnqueue(TransportMessage message)
    {
        if (Interlocked.Increment(ref _readyCount) > Spec.MaxLength)
        {
            Interlocked.Decrement(ref _readyCount);
            return false;
        }

        if (_ready.Writer.TryWrite(new QueuedMessage(message, false)))
        {
            return true;
        }

        Interlocked.Decrement(ref _readyCount);
        return false;
    }

    /// <summary>Puts back a message a consumer held but did not acknowledge.</summary>
    public void Requeue(TransportMessage message)
    {
        Interlocked.Increment(ref _readyCount);
        if (!_ready.Writer.TryWrite(new QueuedMessage(message, true)))
        {
            Interlocked.Decrement(ref _readyCount);
        }
    }

    /// <summary>Called by a consumer for each message it takes.</summary>
    public void Taken() => Interlocked.Decrement(ref _readyCount);

    public void Delete() => _ready.Writer.TryComplete();
}

internal readonly record struct QueuedMessage(TransportMessage Message, bool Redelivered);
