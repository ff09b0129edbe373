using Microsoft.Extensions.Logging;

namespace Trellis.Flows.Broker.InMemory;

/// <summary>One consumer of a <see cref="MemoryFlowQueue"/>: reads in turn with the queue's other consumers and holds at
/// most its prefetch of unacknowledged deliveries, each handed to the handler as it comes (a handler that has not
/// finished does not hold back the next delivery, as with an AMQP consumer whose channel dispatches concurrently).</summary>
internal sealed partial class MemoryFlowConsumer : IAsyncDisposable
{
    private readonly InMemoryFlowBroker _owner;
    private readonly FlowDeliveryHandler _handler;
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _window;
    private readonly HashSet<MemoryFlowDelivery> _unacked = [];
    private Task _loop = Task.CompletedTask;
    private int _disposed;

    public MemoryFlowConsumer(InMemoryFlowBroker owner, MemoryFlowQueue queue, FlowConsumerOptions options, FlowDeliveryHandler handler)
    {
        _owner = owner;
        Queue = queue;
        Exclusive = options.Exclusive;
        _handler = handler;
        _window = new SemaphoreSlim(Math.Max(1, options.Prefetch));
    }

    public MemoryFlowQueue Queue { get; }

    public bool Exclusive { get; }

    public void Start() => _loop = Task.Run(RunAsync);

    /// <summary>Cancels the consumer; what it holds unacknowledged goes back to the queue, marked redelivered.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);

        MemoryFlowDelivery[] unacked;
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
        try
        {
            while (!token.IsCancellationRequested)
            {
                await _window.WaitAsync(token).ConfigureAwait(false);
                QueuedFlowMessage item;
                try
                {
                    item = await reader.ReadAsync(token).ConfigureAwait(false);
                }
                catch
                {
                    _window.Release();
                    throw;
                }

                var delivery = new MemoryFlowDelivery(this, item.Message, item.Redelivered);
                lock (_unacked)
                {
                    _unacked.Add(delivery);
                }

                ValueTask running;
                try
                {
                    running = _handler(delivery, token);
                }
                catch (Exception e)
                {
                    await FailedAsync(delivery, e).ConfigureAwait(false);
                    continue;
                }

                if (running.IsCompletedSuccessfully)
                {
                    continue;
                }

                _ = AwaitHandlerAsync(running, delivery);
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

    private async Task AwaitHandlerAsync(ValueTask running, MemoryFlowDelivery delivery)
    {
        try
        {
            await running.ConfigureAwait(false);
        }
        catch (Exception e)
        {
            await FailedAsync(delivery, e).ConfigureAwait(false);
        }
    }

    /// <summary>A handler that throws without settling its delivery rejects it (to the dead-letter exchange), as a
    /// msgflo participant nacks a message its process function fails on.</summary>
    private ValueTask FailedAsync(MemoryFlowDelivery delivery, Exception e)
    {
        if (e is OperationCanceledException && _stop.IsCancellationRequested)
        {
            return ValueTask.CompletedTask;
        }

        LogHandlerFailed(_owner.Logger, e, Queue.Name);
        return delivery.NackAsync(requeue: false);
    }

    private bool Settle(MemoryFlowDelivery delivery)
    {
        lock (_unacked)
        {
            if (!_unacked.Remove(delivery))
            {
                return false;
            }
        }

        _window.Release();
        return true;
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Flow delivery handler for queue {Queue} failed; the delivery is rejected")]
    private static partial void LogHandlerFailed(ILogger logger, Exception exception, string queue);

    private sealed class MemoryFlowDelivery(MemoryFlowConsumer consumer, FlowMessage message, bool redelivered) : FlowDelivery
    {
        public FlowMessage Message { get; } = message;

        public override ReadOnlyMemory<byte> Body => Message.Body;

        public override string Exchange => Message.Exchange;

        public override string? TraceParent => Message.TraceParent;

        public override bool Redelivered { get; } = redelivered;

        public override ValueTask AckAsync()
        {
            consumer.Settle(this);
            return ValueTask.CompletedTask;
        }

        public override ValueTask NackAsync(bool requeue = false)
        {
            if (consumer.Settle(this))
            {
                if (requeue)
                {
                    consumer.Queue.Requeue(Message);
                }
                else
                {
                    consumer._owner.DeadLetter(consumer.Queue, Message);
                }
            }

            return ValueTask.CompletedTask;
        }
    }
}
