using Microsoft.Extensions.Logging;
using RabbitMQ.Client;
using Trellis.Core.Errors;
using Trellis.Core.Transport;

namespace Trellis.Transport.RabbitMq.Internal;

/// <summary>Receives replies on RabbitMQ's direct reply-to pseudo-queue of one request channel.</summary>
/// <remarks>Direct reply-to requires the consumer to be on the channel that publishes the requests, in
/// no-ack mode; the broker then routes a reply straight to this channel without any queue.
/// See https://www.rabbitmq.com/docs/direct-reply-to.</remarks>
internal sealed partial class ReplyConsumer(IChannel channel, ReplyHandler onReply, ILogger logger) : AsyncDefaultBasicConsumer(channel)
{
    public override Task HandleBasicDeliverAsync(
        string consumerTag,
        ulong deliveryTag,
        bool redelivered,
        string exchange,
        string routingKey,
        IReadOnlyBasicProperties properties,
        ReadOnlyMemory<byte> body,
        CancellationToken cancellationToken)
    {
        RabbitMqMetrics.Consumed(Wire.DirectReplyTo);
        try
        {
            onReply(Wire.Read(routingKey, properties, body));
        }
        catch (TrellisException e)
        {
            LogBadReply(logger, properties.CorrelationId ?? "", e.Message);
        }
        catch (Exception e)
        {
            LogReplyHandlerFailed(logger, e);
        }

        return Task.CompletedTask;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Dropped a reply for sender {Sender}: {Problem}")]
    private static partial void LogBadReply(ILogger logger, string sender, string problem);

    [LoggerMessage(Level = LogLevel.Error, Message = "The reply handler failed")]
    private static partial void LogReplyHandlerFailed(ILogger logger, Exception exception);
}
