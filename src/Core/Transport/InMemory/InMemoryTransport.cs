using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Trellis.Core.Transport.InMemory;

/// <summary>The default transport: the in-process broker topology of an <see cref="InMemoryBroker"/>.</summary>
public sealed partial class InMemoryTransport : ITransport
{
    private readonly InMemoryBroker _broker;
    private readonly ILogger _logger;
    private readonly List<MemoryConsumer> _consumers = [];
    private readonly Lock _lock = new();
    private readonly ITimer _watchdog;
    private int _watchdogArmed;
    private bool _disposed;

    /// <summary>How often consumer loops lent to requesters are checked (<see cref="MemoryConsumer.RescueIfStuck"/>).</summary>
    internal static readonly TimeSpan WatchdogPeriod = TimeSpan.FromMilliseconds(10);

    public InMemoryTransport(InMemoryBroker broker, ILogger<InMemoryTransport>? logger = null, TimeProvider? time = null)
    {
        _broker = broker;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        ReplyAddress = $"trellis.reply.{Guid.NewGuid():N}";
        // Armed only while some consumer loop is lent, so an idle process has no timer waking it.
        _watchdog = (time ?? TimeProvider.System).CreateTimer(
            static state => ((InMemoryTransport)state!).CheckLentLoops(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    public string Name => "inmemory";

    public string ReplyAddress { get; }

    /// <summary>The in-process index resolves globs exactly: nothing to filter.</summary>
    public bool DeliversOnlyMatches => true;

    public ValueTask StartAsync(ReplyHandler onReply, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _broker.RegisterReplyEndpoint(ReplyAddress, onReply);
        return ValueTask.CompletedTask;
    }

    public ValueTask<IAsyncDisposable> ConsumeAsync(QueueSpec queue, DeliveryHandler handler, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(queue);
        ArgumentNullException.ThrowIfNull(handler);
        queue.Validate();
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var memoryQueue = _broker.Attach(queue, out _);
            var consumer = new MemoryConsumer(this, memoryQueue, handler);
            _consumers.Add(consumer);
            consumer.Start();
            return ValueTask.FromResult<IAsyncDisposable>(consumer);
        }
    }

    public ValueTask DeclareAsync(QueueSpec queue, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(queue);
        queue.Validate();
        if (queue.Exchange != ExchangeKind.Durable || queue.Group is null)
        {
            throw new ArgumentException($"Only durable queues of a group can be declared without a consumer (was {queue.Exchange} '{queue.Pattern}', group '{queue.Group}')", nameof(queue));
        }

        ObjectDisposedException.ThrowIf(_disposed, this);
        _broker.Declare(queue);
        return ValueTask.CompletedTask;
    }

    public ValueTask<PublishStatus> PublishAsync(ExchangeKind exchange, TransportMessage message, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var queues = _broker.Exchange(exchange).Route(message.Topic);
        if (queues.Length == 0)
        {
            return ValueTask.FromResult(PublishStatus.Unroutable);
        }

        var status = PublishStatus.Unroutable;
        foreach (var queue in queues)
        {
            switch (queue.TryEnqueue(message))
            {
                case EnqueueResult.Queued when status == PublishStatus.Unroutable:
                    status = PublishStatus.Routed;
                    break;
                case EnqueueResult.Full:
                    status = PublishStatus.QueueFull;
                    break;
            }
        }

        // A queue deleted between routing and enqueueing counts as no route.
        return ValueTask.FromResult(status);
    }

    public ValueTask SendReplyAsync(string replyTo, TransportMessage reply, CancellationToken cancellationToken)
    {
        if (!_broker.TryReply(replyTo, reply))
        {
            LogReplyDropped(_logger, replyTo);
        }

        return ValueTask.CompletedTask;
    }

    public ValueTask<bool> IsHealthyAsync(CancellationToken cancellationToken) => ValueTask.FromResult(!_disposed);

    /// <summary>Stops every consumer (their unacknowledged durable deliveries go back to their queues)
    /// and the reply endpoint: what a process exit does to its broker connection.</summary>
    public async ValueTask DisposeAsync()
    {
        MemoryConsumer[] consumers;
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            consumers = [.. _consumers];
            _consumers.Clear();
        }

        await _watchdog.DisposeAsync().ConfigureAwait(false);

        _broker.RemoveReplyEndpoint(ReplyAddress);
        foreach (var consumer in consumers)
        {
            await consumer.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Called by a consumer loop before it lends itself: makes sure the watchdog is armed.</summary>
    internal void WatchLentLoops()
    {
        if (Volatile.Read(ref _watchdogArmed) == 0 && Interlocked.Exchange(ref _watchdogArmed, 1) == 0)
        {
            _watchdog.Change(WatchdogPeriod, Timeout.InfiniteTimeSpan);
        }
    }

    private void CheckLentLoops()
    {
        if (AnyLent(rescue: true))
        {
            _watchdog.Change(WatchdogPeriod, Timeout.InfiniteTimeSpan);
            return;
        }

        // Disarm; a loop lent since the scan saw the watchdog armed and did not arm it, so look once more.
        Volatile.Write(ref _watchdogArmed, 0);
        if (AnyLent(rescue: false))
        {
            WatchLentLoops();
        }
    }

    private bool AnyLent(bool rescue)
    {
        var lent = false;
        lock (_lock)
        {
            if (_disposed)
            {
                return false;
            }

            foreach (var consumer in _consumers)
            {
                lent |= rescue ? consumer.RescueIfStuck() : consumer.IsLent;
            }
        }

        return lent;
    }

    internal void Forget(MemoryConsumer consumer)
    {
        lock (_lock)
        {
            _consumers.Remove(consumer);
        }

        _broker.Detach(consumer.Queue);
    }

    internal ILogger Logger => _logger;

    [LoggerMessage(Level = LogLevel.Debug, Message = "Reply to {ReplyTo} dropped: nobody is waiting there any more")]
    private static partial void LogReplyDropped(ILogger logger, string replyTo);
}
