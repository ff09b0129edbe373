using System.Runtime.ExceptionServices;
using Microsoft.Extensions.Logging;

namespace Trellis.Core.Transport.InMemory;

/// <summary>One consumer on a <see cref="MemoryQueue"/>: reads in turn with the queue's other consumers,
/// and for durable queues holds at most <see cref="QueueSpec.Prefetch"/> unacknowledged deliveries.</summary>
/// <remarks>A handler that answers before it returns has its requesters resumed by this loop right after it, on the
/// loop's thread (<see cref="ReplyCompletion"/>): a round trip then takes no thread-pool hop for the reply, and the
/// requester's next request is usually queued before the loop reads again, so it takes none for the delivery either.
/// While the loop is lent to a requester like this, <see cref="RescueIfStuck"/> (the transport's watchdog) starts a
/// fresh loop if messages wait for longer than a watchdog period; the lent loop then retires when it returns.</remarks>
internal sealed partial class MemoryConsumer : IAsyncDisposable
{
    private readonly InMemoryTransport _owner;
    private readonly DeliveryHandler _handler;
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim? _window;
    private readonly HashSet<DurableDelivery> _unacked = [];
    private readonly List<Task> _loops = [];
    private int _generation;
    private int _lentBy;
    private int _lends;
    private int _lendsSeen = -1;
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

    public void Start() => StartLoop();

    /// <summary>A loop of this consumer is lent to requesters right now.</summary>
    public bool IsLent => Volatile.Read(ref _lentBy) != 0;

    /// <summary>Called by the transport's watchdog: if this consumer's loop has been lent to the same requesters since
    /// the last call while messages wait, a new loop takes over the queue. Returns whether a loop is still lent.</summary>
    public bool RescueIfStuck()
    {
        if (Volatile.Read(ref _lentBy) == 0)
        {
            _lendsSeen = -1;
            return false;
        }

        var lends = Volatile.Read(ref _lends);
        if (lends != _lendsSeen)
        {
            _lendsSeen = lends;
            return true;
        }

        if (Queue.ReadyCount == 0 || Volatile.Read(ref _disposed) != 0)
        {
            return true;
        }

        _lendsSeen = -1;
        LogRescued(_owner.Logger, Queue.Name);
        StartLoop();
        return true;
    }

    private void StartLoop()
    {
        lock (_loops)
        {
            _loops.RemoveAll(static loop => loop.IsCompleted);
            var generation = ++_generation;
            // The loop outlives whatever subscribed (an HTTP request, a grain call): it must not carry that caller's
            // execution context, whose activity (a span long stopped) would otherwise be current for every delivery.
            using (ExecutionContext.SuppressFlow())
            {
                _loops.Add(Task.Run(() => RunAsync(generation)));
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        Task[] loops;
        lock (_loops)
        {
            loops = [.. _loops];
        }

        foreach (var loop in loops)
        {
            try
            {
                await loop.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
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

    private async Task RunAsync(int generation)
    {
        var token = _stop.Token;
        var reader = Queue.Reader;
        var autoAck = new AutoAckDelivery();
        var deferred = new DeferredReplies();
        try
        {
            while (!token.IsCancellationRequested && generation == Volatile.Read(ref _generation))
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

                ValueTask running;
                Exception? thrown = null;
                using (ReplyCompletion.Defer(deferred))
                {
                    try
                    {
                        running = _handler(delivery, token);
                    }
                    catch (Exception e)
                    {
                        running = default;
                        thrown = e;
                    }
                }

                if (!deferred.IsEmpty)
                {
                    Lend(generation, deferred);
                }

                try
                {
                    if (thrown is not null)
                    {
                        ExceptionDispatchInfo.Throw(thrown);
                    }

                    await running.ConfigureAwait(false);
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

    /// <summary>Resumes the requesters the last handler answered, on this thread, counted as lent meanwhile.</summary>
    private void Lend(int generation, DeferredReplies deferred)
    {
        Interlocked.Increment(ref _lends);
        Volatile.Write(ref _lentBy, generation);
        _owner.WatchLentLoops();
        try
        {
            deferred.RunAll();
        }
        finally
        {
            // A rescue may have started a newer loop, which may be lent itself: clear only our own mark.
            Interlocked.CompareExchange(ref _lentBy, 0, generation);
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

    [LoggerMessage(Level = LogLevel.Debug, Message = "Queue {Queue}: a requester held its consumer loop while messages waited; a new loop serves the queue")]
    private static partial void LogRescued(ILogger logger, string queue);

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
