using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using Trellis.Core.Messaging;
using Trellis.Core.Transport;

namespace Trellis.Transport.RabbitMq.Internal;

/// <summary>Publishes requests on one request channel, with publisher confirms that the requester does not
/// wait for.</summary>
/// <remarks>
/// A request's reply takes a round trip through a handler; its confirm only a round trip to the broker.
/// Waiting for the confirm before waiting for the reply costs the requester an extra wake-up and the
/// client's confirm tracking (a completion source, four state machines and a sequence-number header per
/// publish), which P2 measured at a third of the allocations of a request. So the request goes out at once
/// and the confirm races the reply: a nack (the queue is full, x-overflow=reject-publish) becomes a 503 reply
/// with null data, a return (nobody is bound) a 404 reply with null data, both under the request's sender,
/// which the bus reads as the broker's refusal (see <see cref="ITransport"/>).
/// Sequence numbers restart with every channel, so one instance serves one channel: a new one is made when
/// the channel is opened again, and it forgets everything when the channel shuts down (the requests it was
/// tracking then end in the requester's timeout). Without confirms only the return is reported.
/// </remarks>
internal sealed class RequestPublisher
{
    private readonly IChannel _channel;
    private readonly ReplyHandler _onReply;
    private readonly bool _confirming;
    private readonly SemaphoreSlim _publishing = new(1, 1);
    private readonly Lock _lock = new();
    private readonly Dictionary<ulong, string> _outstanding = [];
    private ulong _lowest = 1;

    public RequestPublisher(IChannel channel, ReplyHandler onReply, bool confirming)
    {
        _channel = channel;
        _onReply = onReply;
        _confirming = confirming;
        channel.BasicReturnAsync += OnReturnAsync;
        if (confirming)
        {
            channel.BasicAcksAsync += OnAckAsync;
            channel.BasicNacksAsync += OnNackAsync;
            channel.ChannelShutdownAsync += OnShutdownAsync;
        }
    }

    /// <summary>Publishes a request, remembering its sequence number so a nack can be answered.</summary>
    public ValueTask PublishAsync(string exchange, TransportMessage message, BasicProperties properties, CancellationToken cancellationToken)
    {
        if (!_confirming)
        {
            return _channel.BasicPublishAsync(exchange, message.Topic, mandatory: true, properties, message.Data.Utf8, cancellationToken);
        }

        // The sequence number the client gives the next publish is only ours if nobody publishes between
        // reading it and publishing: both normally complete synchronously, so the lock is uncontended.
        if (!_publishing.Wait(0))
        {
            return PublishAfterWaitAsync(exchange, message, properties, cancellationToken);
        }

        var releasing = true;
        ulong number = 0;
        try
        {
            var sequence = _channel.GetNextPublishSequenceNumberAsync(cancellationToken);
            if (!sequence.IsCompletedSuccessfully)
            {
                releasing = false;
                return PublishLockedAsync(sequence, exchange, message, properties, cancellationToken);
            }

            number = sequence.Result;
            Track(number, message.Sender);
            var publishing = _channel.BasicPublishAsync(exchange, message.Topic, mandatory: true, properties, message.Data.Utf8, cancellationToken);
            if (!publishing.IsCompletedSuccessfully)
            {
                releasing = false;
                return FinishPublishAsync(publishing, number);
            }

            publishing.GetAwaiter().GetResult();
            return ValueTask.CompletedTask;
        }
        catch
        {
            Forget(number);
            throw;
        }
        finally
        {
            if (releasing)
            {
                _publishing.Release();
            }
        }
    }

    private async ValueTask PublishAfterWaitAsync(string exchange, TransportMessage message, BasicProperties properties, CancellationToken cancellationToken)
    {
        await _publishing.WaitAsync(cancellationToken).ConfigureAwait(false);
        await PublishLockedAsync(_channel.GetNextPublishSequenceNumberAsync(cancellationToken), exchange, message, properties, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Publishes with the lock held, and releases it.</summary>
    private async ValueTask PublishLockedAsync(
        ValueTask<ulong> sequence, string exchange, TransportMessage message, BasicProperties properties, CancellationToken cancellationToken)
    {
        ulong number = 0;
        try
        {
            number = await sequence.ConfigureAwait(false);
            Track(number, message.Sender);
            await _channel.BasicPublishAsync(exchange, message.Topic, mandatory: true, properties, message.Data.Utf8, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            Forget(number);
            throw;
        }
        finally
        {
            _publishing.Release();
        }
    }

    private async ValueTask FinishPublishAsync(ValueTask publishing, ulong number)
    {
        try
        {
            await publishing.ConfigureAwait(false);
        }
        catch
        {
            Forget(number);
            throw;
        }
        finally
        {
            _publishing.Release();
        }
    }

    private void Track(ulong number, string sender)
    {
        lock (_lock)
        {
            _outstanding[number] = sender;
        }
    }

    /// <summary>A publish that failed will not be confirmed: stop tracking it (0: it was never tracked).</summary>
    private void Forget(ulong number)
    {
        if (number == 0)
        {
            return;
        }

        lock (_lock)
        {
            _outstanding.Remove(number);
        }
    }

    private Task OnAckAsync(object sender, BasicAckEventArgs e)
    {
        lock (_lock)
        {
            Settle(e.DeliveryTag, e.Multiple, refused: null);
        }

        return Task.CompletedTask;
    }

    private Task OnNackAsync(object sender, BasicNackEventArgs e)
    {
        List<string> refused = [];
        lock (_lock)
        {
            Settle(e.DeliveryTag, e.Multiple, refused);
        }

        foreach (var requestSender in refused)
        {
            _onReply(new TransportMessage { Topic = "", Code = Codes.QueueFull, Data = JsonPayload.Null, Sender = requestSender });
        }

        return Task.CompletedTask;
    }

    /// <summary>The broker sends basic.return before the confirm of an unroutable mandatory message.</summary>
    private Task OnReturnAsync(object sender, BasicReturnEventArgs e)
    {
        if (e.BasicProperties.CorrelationId is { Length: > 0 } requestSender)
        {
            _onReply(new TransportMessage { Topic = e.RoutingKey, Code = Codes.NotFound, Data = JsonPayload.Null, Sender = requestSender });
        }

        return Task.CompletedTask;
    }

    private Task OnShutdownAsync(object sender, ShutdownEventArgs e)
    {
        lock (_lock)
        {
            _outstanding.Clear();
            _lowest = 1;
        }

        return Task.CompletedTask;
    }

    /// <summary>Settles one sequence number or, for a multiple confirm, every one up to it.</summary>
    private void Settle(ulong tag, bool multiple, List<string>? refused)
    {
        if (!multiple)
        {
            if (_outstanding.Remove(tag, out var one))
            {
                refused?.Add(one);
            }
        }
        else
        {
            for (var number = _lowest; number <= tag; number++)
            {
                if (_outstanding.Remove(number, out var each))
                {
                    refused?.Add(each);
                }
            }
        }

        // Everything below the lowest outstanding number is settled; keep the scan of the next multiple
        // confirm to the numbers that may still be waiting.
        if (multiple || tag == _lowest)
        {
            _lowest = Math.Max(_lowest, tag + 1);
        }

        if (_outstanding.Count == 0)
        {
            _lowest = Math.Max(_lowest, tag + 1);
        }
    }
}
