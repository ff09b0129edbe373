using System.Buffers;
using System.Text;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;
using Trellis.Flows.Broker;
using Trellis.Transport.RabbitMq.Internal;

namespace Trellis.Transport.RabbitMq.Flows;

/// <summary>One consumer of a flow queue on a channel of its own (its prefetch window, its acknowledgements).</summary>
/// <remarks>The client dispatches a channel's deliveries one at a time; the handler is called for each in order and
/// not awaited past its first suspension, so a handler that holds a delivery while it works does not hold back the
/// next one: as many run at once as the prefetch allows, like a msgflo participant's process function. The body is
/// copied out of the client's buffer into a pooled one that is given back when the delivery is settled.</remarks>
internal sealed partial class FlowQueueConsumer : FlowConsumerBase
{
    private readonly string _queue;
    private readonly FlowDeliveryHandler _handler;
    private readonly ILogger _logger;

    public FlowQueueConsumer(IChannel channel, RabbitMqFlowBroker owner, string queue, FlowDeliveryHandler handler, ILogger logger)
        : base(channel, owner)
    {
        _queue = queue;
        _handler = handler;
        _logger = logger;
    }

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
        if (Stopping.IsCancellationRequested)
        {
            // Left unacknowledged: closing the channel gives it back to the queue for another consumer.
            return;
        }

        RabbitMqMetrics.Consumed(_queue);
        var buffer = ArrayPool<byte>.Shared.Rent(body.Length);
        body.CopyTo(buffer);
        var delivery = new Delivery(this, deliveryTag, buffer, body.Length, exchange, TraceParent(properties), redelivered);
        ValueTask running;
        try
        {
            running = _handler(delivery, Stopping.Token);
        }
        catch (Exception e)
        {
            await FailedAsync(delivery, e).ConfigureAwait(false);
            return;
        }

        if (!running.IsCompletedSuccessfully)
        {
            _ = AwaitHandlerAsync(running, delivery);
        }
    }

    public override Task HandleBasicCancelAsync(string consumerTag, CancellationToken cancellationToken = default)
    {
        if (!Disposed)
        {
            LogCancelledByBroker(_logger, _queue);
        }

        return base.HandleBasicCancelAsync(consumerTag, cancellationToken);
    }

    protected override void OnCloseFailed(string reason) => LogCloseFailed(_logger, _queue, reason);

    private static string? TraceParent(IReadOnlyBasicProperties properties) =>
        properties.Headers is { Count: > 0 } headers && headers.TryGetValue(Wire.TraceParentHeader, out var value)
            ? value switch
            {
                byte[] bytes => Encoding.UTF8.GetString(bytes),
                string text => text,
                _ => null,
            }
            : null;

    private async Task AwaitHandlerAsync(ValueTask running, Delivery delivery)
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
    private ValueTask FailedAsync(Delivery delivery, Exception e)
    {
        if (e is OperationCanceledException && Stopping.IsCancellationRequested)
        {
            return ValueTask.CompletedTask;
        }

        LogHandlerFailed(_logger, e, _queue);
        return delivery.NackAsync(requeue: false);
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

            RabbitMqMetrics.Settled(ack, _queue, started);
        }
        catch (Exception e) when (e is OperationInterruptedException or ObjectDisposedException or IOException)
        {
            RabbitMqMetrics.Settled(ack, _queue, started, e.GetType().Name);
            LogSettleFailed(_logger, _queue, e.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Flow delivery handler for queue {Queue} failed; the delivery is rejected")]
    private static partial void LogHandlerFailed(ILogger logger, Exception exception, string queue);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The broker cancelled the consumer of flow queue {Queue} (deleted?); it receives nothing more")]
    private static partial void LogCancelledByBroker(ILogger logger, string queue);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Closing the consumer of flow queue {Queue}: {Reason}")]
    private static partial void LogCloseFailed(ILogger logger, string queue, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Could not settle a delivery on flow queue {Queue}; the broker requeues it when the channel closes: {Reason}")]
    private static partial void LogSettleFailed(ILogger logger, string queue, string reason);

    private sealed class Delivery(FlowQueueConsumer consumer, ulong deliveryTag, byte[] buffer, int length, string exchange, string? traceParent, bool redelivered)
        : FlowDelivery
    {
        private int _settled;

        public override ReadOnlyMemory<byte> Body => new(buffer, 0, length);

        public override string Exchange => exchange;

        public override string? TraceParent => traceParent;

        public override bool Redelivered => redelivered;

        public override ValueTask AckAsync() => SettleAsync(ack: true, requeue: false);

        public override ValueTask NackAsync(bool requeue = false) => SettleAsync(ack: false, requeue);

        private async ValueTask SettleAsync(bool ack, bool requeue)
        {
            if (Interlocked.Exchange(ref _settled, 1) != 0)
            {
                return;
            }

            try
            {
                await consumer.SettleAsync(deliveryTag, ack, requeue).ConfigureAwait(false);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }
}
