using Microsoft.Extensions.Logging;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;
using Trellis.Core.Errors;
using Trellis.Core.Messaging;
using Trellis.Core.Transport;

namespace Trellis.Transport.RabbitMq.Internal;

/// <summary>One consumer on one queue, alone on its own channel so that its prefetch window, its
/// acknowledgements and its back-pressure are its own, and closing it gives back only its deliveries.</summary>
/// <remarks>The client dispatches a channel's deliveries one at a time and waits for each, so awaiting
/// the handler here is what holds the queue back when the bus is busy.</remarks>
internal sealed partial class QueueConsumer : AsyncDefaultBasicConsumer, IAsyncDisposable
{
    private readonly RabbitMqTransport _owner;
    private readonly DeliveryHandler _handler;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly AcknowledgedDelivery _acknowledged = new();
    private readonly bool _durable;
    private readonly bool _deleteWhenUnused;
    private readonly string _metricsDestination;
    private int _disposed;

    public QueueConsumer(IChannel channel, RabbitMqTransport owner, QueueSpec spec, string queue, DeliveryHandler handler, ILogger logger)
        : base(channel)
    {
        _owner = owner;
        Spec = spec;
        Queue = queue;
        _handler = handler;
        _logger = logger;
        _durable = spec.Exchange == ExchangeKind.Durable;

        // A shared queue of requests or signals is auto-delete, but the broker deletes it only after
        // answering the cancel, so a request published in between would be routed into a dying queue and
        // lost instead of coming back as 404. Deleting it ourselves (if unused) is synchronous.
        _deleteWhenUnused = spec.Group is not null && !_durable;

        // A group-less slot's queue has a name the broker made up, new with every subscription: metrics name it by
        // what it is bound to instead, so their label values stay few.
        _metricsDestination = spec.Group is null ? $"{spec.Exchange.ToString().ToLowerInvariant()}:{spec.Pattern}" : queue;
    }

    public QueueSpec Spec { get; }

    public string Queue { get; }

    public override async Task HandleBasicDeliverAsync(
        string consumerTag,
        ulong deliveryTag,
        bool redelivered,
        string exchange,
        string routingKey,
        IReadOnlyBasicProperties properties,
        ReadOnlyMemory<byte> body,
        CancellationToken cancellationToken)
    {
        if (_stopping.IsCancellationRequested)
        {
            // Left unacknowledged: closing the channel gives it back to the queue for another member.
            return;
        }

        RabbitMqMetrics.Consumed(_metricsDestination);
        TransportMessage message;
        try
        {
            message = Wire.Read(routingKey, properties, body);
        }
        catch (TrellisException e)
        {
            await RefuseAsync(deliveryTag, routingKey, properties, e).ConfigureAwait(false);
            return;
        }

        Delivery delivery;
        if (_durable)
        {
            delivery = new DurableDelivery(this, deliveryTag, message, redelivered);
        }
        else
        {
            // At most once: acknowledged as it is handed over, so a crash of this process loses it
            // rather than running it twice.
            await SettleAsync(deliveryTag, ack: true, requeue: false).ConfigureAwait(false);

            // Deliveries come one at a time and the bus does not keep a non-durable one past its handler.
            _acknowledged.Set(message, redelivered);
            delivery = _acknowledged;
        }

        try
        {
            await _handler(delivery, _stopping.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            LogHandlerFailed(_logger, e, Queue);
        }
    }

    public override Task HandleBasicCancelAsync(string consumerTag, CancellationToken cancellationToken = default)
    {
        // The broker cancelled us: the queue was deleted by someone else, or its node went away.
        if (Volatile.Read(ref _disposed) == 0)
        {
            LogCancelledByBroker(_logger, Queue);
        }

        return base.HandleBasicCancelAsync(consumerTag, cancellationToken);
    }

    /// <summary>Cancels the consumer and closes its channel; the broker requeues what it had not acknowledged.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        try
        {
            if (Channel.IsOpen)
            {
                foreach (var tag in ConsumerTags)
                {
                    await Channel.BasicCancelAsync(tag).ConfigureAwait(false);
                }

                if (_deleteWhenUnused)
                {
                    await DeleteIfUnusedAsync().ConfigureAwait(false);
                }

                if (Channel.IsOpen)
                {
                    await Channel.CloseAsync().ConfigureAwait(false);
                }
            }
        }
        catch (Exception e) when (e is OperationInterruptedException or ObjectDisposedException or IOException)
        {
            // The channel or the connection is gone already, which has the same effect.
            LogCloseFailed(_logger, Queue, e.Message);
        }
        finally
        {
            await Channel.DisposeAsync().ConfigureAwait(false);
            _owner.Forget(this);
        }
    }

    private async Task DeleteIfUnusedAsync()
    {
        try
        {
            await Channel.QueueDeleteAsync(Queue, ifUnused: true, ifEmpty: false).ConfigureAwait(false);
        }
        catch (OperationInterruptedException e) when (e.ShutdownReason?.ReplyCode == Constants.PreconditionFailed)
        {
            // Other members still consume from it; the broker closed this channel to say so.
        }
    }

    private async ValueTask SettleAsync(ulong deliveryTag, bool ack, bool requeue)
    {
        var channel = Channel;
        if (!channel.IsOpen)
        {
            // The broker requeues everything unacknowledged when a channel closes: nothing left to do.
            return;
        }

        var started = RabbitMqMetrics.Start();
        try
        {
            if (ack)
            {
                await channel.BasicAckAsync(deliveryTag, multiple: false).ConfigureAwait(false);
            }
            else
            {
                await channel.BasicNackAsync(deliveryTag, multiple: false, requeue).ConfigureAwait(false);
            }

            RabbitMqMetrics.Settled(ack, _metricsDestination, started);
        }
        catch (Exception e) when (e is OperationInterruptedException or ObjectDisposedException or IOException)
        {
            RabbitMqMetrics.Settled(ack, _metricsDestination, started, e.GetType().Name);
            LogSettleFailed(_logger, Queue, e.Message);
        }
    }

    /// <summary>A message from another AMQP client whose body is not JSON: dropped, with a 400 to its
    /// requester when it was a request.</summary>
    private async Task RefuseAsync(ulong deliveryTag, string routingKey, IReadOnlyBasicProperties properties, TrellisException problem)
    {
        LogRefused(_logger, Queue, routingKey, problem.Message);
        await SettleAsync(deliveryTag, ack: !_durable, requeue: false).ConfigureAwait(false);
        if (Spec.Exchange == ExchangeKind.Requests && properties.ReplyTo is { Length: > 0 } replyTo)
        {
            var reply = new TransportMessage
            {
                Topic = routingKey,
                Code = Codes.BadRequest,
                Data = JsonPayload.From(problem.Message),
                Sender = properties.CorrelationId ?? "",
            };
            try
            {
                await _owner.SendReplyAsync(replyTo, reply, CancellationToken.None).ConfigureAwait(false);
            }
            catch (TrellisException e)
            {
                LogSettleFailed(_logger, Queue, e.Message);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Delivery handler for queue {Queue} failed")]
    private static partial void LogHandlerFailed(ILogger logger, Exception exception, string queue);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The broker cancelled the consumer of queue {Queue} (deleted or moved); it receives nothing more")]
    private static partial void LogCancelledByBroker(ILogger logger, string queue);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Dropped a message on queue {Queue} (topic {Topic}): {Problem}")]
    private static partial void LogRefused(ILogger logger, string queue, string topic, string problem);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Closing the consumer of queue {Queue}: {Reason}")]
    private static partial void LogCloseFailed(ILogger logger, string queue, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Could not settle a delivery on queue {Queue}; the broker requeues it when the channel closes: {Reason}")]
    private static partial void LogSettleFailed(ILogger logger, string queue, string reason);

    /// <summary>A request or signal: acknowledged already, so settling it does nothing.</summary>
    private sealed class AcknowledgedDelivery() : Delivery(None, false)
    {
        private static readonly TransportMessage None = new() { Topic = "" };

        public void Set(TransportMessage message, bool redelivered) => Reuse(message, redelivered);

        public override ValueTask AckAsync() => ValueTask.CompletedTask;

        public override ValueTask RejectAsync(bool requeue) => ValueTask.CompletedTask;
    }

    /// <summary>A durable message: stays unacknowledged (and counts against the prefetch window) until settled once.</summary>
    private sealed class DurableDelivery(QueueConsumer consumer, ulong deliveryTag, TransportMessage message, bool redelivered)
        : Delivery(message, redelivered)
    {
        private int _settled;

        public override ValueTask AckAsync() =>
            Interlocked.Exchange(ref _settled, 1) == 0 ? consumer.SettleAsync(deliveryTag, ack: true, requeue: false) : ValueTask.CompletedTask;

        public override ValueTask RejectAsync(bool requeue) =>
            Interlocked.Exchange(ref _settled, 1) == 0 ? consumer.SettleAsync(deliveryTag, ack: false, requeue) : ValueTask.CompletedTask;
    }
}
