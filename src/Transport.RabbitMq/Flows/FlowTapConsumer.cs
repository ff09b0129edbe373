using Microsoft.Extensions.Logging;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;
using Trellis.Flows.Broker;

namespace Trellis.Transport.RabbitMq.Flows;

/// <summary>A tap: consumes (without acknowledgements) its exclusive, auto-deleted queue bound to an exchange and hands
/// each message to the handler in order. The body is valid during the handler call only.</summary>
internal sealed partial class FlowTapConsumer(IChannel channel, RabbitMqFlowBroker owner, string exchange, FlowTapHandler handler, ILogger logger)
    : AsyncDefaultBasicConsumer(channel), IAsyncDisposable
{
    private readonly CancellationTokenSource _stopping = new();
    private int _disposed;

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
            return;
        }

        try
        {
            await handler(exchange, body, _stopping.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            LogHandlerFailed(logger, e, exchange);
        }
    }

    /// <summary>Cancels the consumer, which deletes the auto-delete queue, and closes the channel.</summary>
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

                await Channel.CloseAsync().ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is OperationInterruptedException or ObjectDisposedException or IOException)
        {
            LogCloseFailed(logger, exchange, e.Message);
        }
        finally
        {
            await RabbitMqFlowBroker.DisposeQuietlyAsync(Channel).ConfigureAwait(false);
            owner.Forget(this);
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Tap handler on exchange {Exchange} failed")]
    private static partial void LogHandlerFailed(ILogger logger, Exception exception, string exchange);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Closing the tap on exchange {Exchange}: {Reason}")]
    private static partial void LogCloseFailed(ILogger logger, string exchange, string reason);
}
