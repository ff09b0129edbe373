using System.Collections.Concurrent;
using Trellis.Core.Errors;
using Trellis.Core.Messaging;

namespace Trellis.Core.Transport.InMemory;

/// <summary>An in-process copy of the broker topology: three exchanges with their bindings, named queues,
/// competing and exclusive consumers, and reply endpoints. Every <see cref="InMemoryTransport"/> created
/// on one broker sees the others, as processes on one RabbitMQ server do.</summary>
public sealed class InMemoryBroker
{
    private readonly TopicRouter<MemoryQueue>[] _exchanges =
    [
        new TopicRouter<MemoryQueue>(), new TopicRouter<MemoryQueue>(), new TopicRouter<MemoryQueue>(),
    ];

    private readonly ConcurrentDictionary<string, MemoryQueue> _queues = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, ReplyHandler> _replyEndpoints = new(StringComparer.Ordinal);
    private readonly Lock _topology = new();

    /// <summary>Queues currently declared (for tests and the dashboard).</summary>
    public int QueueCount => _queues.Count;

    internal TopicRouter<MemoryQueue> Exchange(ExchangeKind kind) => _exchanges[(int)kind];

    /// <summary>Finds or declares the queue for a spec and registers a consumer on it.</summary>
    /// <exception cref="TrellisException">A single consumer holds the queue, or this consumer asks to be
    /// the single one while others consume (as RabbitMQ refuses an exclusive <c>basic.consume</c>).</exception>
    internal MemoryQueue Attach(QueueSpec spec, out string name)
    {
        lock (_topology)
        {
            var queue = DeclareLocked(spec);
            name = queue.Name;
            if (queue.HeldBySingleConsumer || (spec.SingleConsumer && queue.Consumers > 0))
            {
                throw new TrellisException(
                    ErrorKind.FailedPrecondition,
                    $"Queue '{name}' is consumed by a single consumer at a time and another consumer holds it; try again after it stops");
            }

            queue.Consumers++;
            queue.HeldBySingleConsumer = spec.SingleConsumer;
            return queue;
        }
    }

    /// <summary>Declares a shared durable queue and its binding, without a consumer.</summary>
    internal void Declare(QueueSpec spec)
    {
        lock (_topology)
        {
            DeclareLocked(spec);
        }
    }

    private MemoryQueue DeclareLocked(QueueSpec spec)
    {
        var name = spec.Group is null ? $"{spec.SharedName}{Guid.NewGuid():N}" : spec.SharedName;
        if (!_queues.TryGetValue(name, out var queue))
        {
            // The first declaration's settings win, as on the broker.
            queue = new MemoryQueue(name, spec);
            _queues[name] = queue;
            Exchange(spec.Exchange).Add(spec.Pattern, queue);
        }

        return queue;
    }

    /// <summary>Unregisters a consumer; deletes exclusive queues and, once unused, non-durable shared ones.</summary>
    internal void Detach(MemoryQueue queue)
    {
        List<TransportMessage> left;
        lock (_topology)
        {
            queue.Consumers--;
            queue.HeldBySingleConsumer = false;
            var autoDelete = queue.Spec.Group is null || queue.Spec.Exchange != ExchangeKind.Durable;
            if (queue.Consumers != 0 || !autoDelete || !_queues.TryRemove(queue.Name, out _))
            {
                return;
            }

            Exchange(queue.Spec.Exchange).Remove(queue.Spec.Pattern, queue);
            left = queue.Delete();
        }

        // Requests that reached the queue while its last consumer stopped are answered as unroutable ones are,
        // instead of leaving their requesters to time out.
        foreach (var message in left)
        {
            if (message.ReplyTo is { } replyTo)
            {
                TryReply(replyTo, new TransportMessage { Topic = message.Topic, Code = Codes.NotFound, Sender = message.Sender });
            }
        }
    }

    internal void RegisterReplyEndpoint(string address, ReplyHandler handler) => _replyEndpoints[address] = handler;

    internal void RemoveReplyEndpoint(string address) => _replyEndpoints.TryRemove(address, out _);

    internal bool TryReply(string address, TransportMessage reply)
    {
        if (!_replyEndpoints.TryGetValue(address, out var handler))
        {
            return false;
        }

        handler(reply);
        return true;
    }
}
