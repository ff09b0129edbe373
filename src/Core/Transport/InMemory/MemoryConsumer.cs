using Microsoft.Extensions.Logging;

namespace Trellis.Core.Transport.InMemory;

/// <summary>One consumer on a <see cref="MemoryQueue"/>: reads in turn with the queue's other consumers,
/// and for durable queues holds at most <see cref="QueueSpec.Prefetch"/> unacknowledged deliveries.</summary>
internal sealed partial class MemoryConsumer : IAsyncDisposable
{
    private readonly InMemoryTransport _owner;
    private readonly DeliveryHandler _handler;
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim? _window;
    private readonly HashSet<DurableDelivery> _unacked = [];
    private Task _loop = Task.CompletedTask;
    private int _disposed;

    public MemoryConsumer(InMemoryTransport owner, MemoryQueue queue, DeliveryHandler handler)
    {
        _owner = owner;
        Queue = queue;
        _handler = handler;
        if (queue.Spec.Exchange == ExchangeKind.Durable)
        {
            _window = new SemaphoreSlim(Math.Max(1, queue.Spec.Prefetch));
        }
    }

    public MemoryQueue Queue { get; }

    public void Start() => _loop = Task.Run(RunAsync);

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        DurableDelivery[] unacked;
        lock (_unacked)
        {
            unacked = [.. _unacked];
            _unacked.Clear();
        }

        foreach (var delivery in unacked)
        {
            Queue.Requeue(delivery.Message);
        }

        _owner.Forget(this);
    }

    private async Task RunAsync()
    {
        var token = _stop.Token;
        var reader = Queue.Reader;
        var autoAck = new AutoAckDelivery();
        try
        {
            while (!token.IsCancellationRequested)
            {
                if (_window is not null)
                {
                    await _window.WaitAsync(token).ConfigureAwait(false);
                }

                QueuedMessage item;
                try
                {
                    item = await reader.ReadAsync(token).ConfigureAwait(false);
                }
                catch
                {
                    _window?.Release();
                    throw;
                }

                Delivery delivery;
                if (_window is null)
                {
                    autoAck.Set(item.Message, item.Redelivered);
                    delivery = autoAck;
                }
                else
                {
                    var durable = new DurableDelivery(this, item.Message, item.Redelivered);
                    lock (_unacked)
                    {
                        _unacked.Add(durable);
                    }

                    delivery = durable;
                }

                try
                {
                    await _handler(delivery, token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (token.IsCancellationRequested)
                {
                    throw;
                }
                catch (Exception e)
                {
                    LogHandlerFailed(_owner.Logger, e, Queue.Name);
                }
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
        }
        catch (System.Threading.Channels.ChannelClosedException)
        {
            // The queue was deleted under us.
        }
    }

    private bool Settle(DurableDelivery delivery)
    {
        lock (_unacked)
        {
            if (!_unacked.Remove(delivery))
            {
                return false;
            }
        }

        _window!.Release();
        return true;
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Delivery handler for queue {Queue} failed")]
    private static partial void LogHandlerFailed(ILogger logger, Exception exception, string queue);

    private sealed class AutoAckDelivery() : Delivery(Empty, false)
    {
        private static readonly TransportMessage Empty = new() { Topic = "" };

        public void Set(TransportMessage message, bool redelivered) => Reuse(message, redelivered);

        public override ValueTask AckAsync() => ValueTask.CompletedTask;

        public override ValueTask RejectAsync(bool requeue) => ValueTask.CompletedTask;
    }

    private sealed class DurableDelivery(MemoryConsumer consumer, TransportMessage message, bool redelivered)
        : Delivery(message, redelivered)
    {
        public override ValueTask AckAsync()
        {
            consumer.Settle(this);
            return ValueTask.CompletedTask;
        }

        public override ValueTask RejectAsync(bool requeue)
        {
            if (consumer.Settle(this) && requeue)
            {
                consumer.Queue.Requeue(Message);
            }

            return ValueTask.CompletedTask;
        }
    }
}
