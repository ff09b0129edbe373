using Microsoft.Extensions.Logging;
using RabbitMQ.Client;
using Trellis.Flows.Broker;
using Trellis.Transport.RabbitMq.Internal;

namespace Trellis.Transport.RabbitMq.Flows;

/// <summary>A tap: consumes (without acknowledgements) its exclusive, auto-deleted queue bound to an exchange and hands
/// each message to the handler in order. The body is valid during the handler call only.</summary>
internal sealed partial class FlowTapConsumer(IChannel channel, RabbitMqFlowBroker owner, string exchange, FlowTapHandler handler, ILogger logger)
    : FlowConsumerBase(channel, owner)
{

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
            return;
        }

        RabbitMqMetrics.Consumed(exchange);
        try
        {
            await handler(exchange, body, Stopping.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (Stopping.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            LogHandlerFailed(logger, e, exchange);
        }
    }

    protected override void OnCloseFailed(string reason) => LogCloseFailed(logger, exchange, reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Tap handler on exchange {Exchange} failed")]
    private static partial void LogHandlerFailed(ILogger logger, Exception exception, string exchange);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Closing the tap on exchange {Exchange}: {Reason}")]
    private static partial void LogCloseFailed(ILogger logger, string exchange, string reason);
}
