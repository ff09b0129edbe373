using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Trellis.Transport.RabbitMq.Flows;

/// <summary>A consumer of the flow broker on a channel of its own, and how it stops: once, cancelling its handlers'
/// token, cancelling its consumer tags and closing its channel (the broker then requeues what it held, or deletes an
/// auto-delete queue), and leaving the broker's list of subscriptions.</summary>
internal abstract class FlowConsumerBase(IChannel channel, RabbitMqFlowBroker owner) : AsyncDefaultBasicConsumer(channel), IAsyncDisposable
{
    private int _disposed;

    /// <summary>Cancelled when the consumer stops; handlers get it.</summary>
    protected CancellationTokenSource Stopping { get; } = new();

    protected bool Disposed => Volatile.Read(ref _disposed) != 0;

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await Stopping.CancelAsync().ConfigureAwait(false);
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
            // The channel or the connection is gone already, which has the same effect.
            OnCloseFailed(e.Message);
        }
        finally
        {
            await RabbitMqFlowBroker.DisposeQuietlyAsync(Channel).ConfigureAwait(false);
            owner.Forget(this);
        }
    }

    /// <summary>Logs that closing failed (the consumer is stopped all the same).</summary>
    protected abstract void OnCloseFailed(string reason);
}
