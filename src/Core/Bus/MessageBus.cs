using System.Collections.Concurrent;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Trellis.Core.Diagnostics;
using Trellis.Core.Errors;
using Trellis.Core.Messaging;
using Trellis.Core.Topics;
using Trellis.Core.Transport;

namespace Trellis.Core.Bus;

/// <summary>The messaging kernel: services with exclusion groups, signals to slots, durable subscriptions,
/// codes, timeouts and the error channel, over any <see cref="ITransport"/>.</summary>
public sealed partial class MessageBus : IAsyncDisposable
{
    private readonly ITransport _transport;
    private readonly MessagingOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly string _traceSystem;
    private static readonly TimeSpan SweepPeriod = TimeSpan.FromMilliseconds(20);
    private static readonly TransportMessage TimedOut = new() { Topic = "", Code = Codes.RequestTimeout };

    private readonly ConcurrentDictionary<string, PendingRequest> _pending = new(StringComparer.Ordinal);
    private readonly ITimer _sweeper;
    private readonly ConcurrentDictionary<(string Topic, string Group), Subscription> _services = new();
    private readonly ConcurrentDictionary<Subscription, byte> _subscriptions = new();
    private readonly ConcurrencyLimiter _inFlight;
    private readonly string _senderPrefix;
    private long _senderSequence;
    private string? _lastRequestTopic;
    private int _disposed;

    private MessageBus(ITransport transport, MessagingOptions options, TimeProvider time, ILogger logger)
    {
        _transport = transport;
        _options = options;
        _time = time;
        _logger = logger;
        _traceSystem = BusTracing.SystemOf(transport);
        _inFlight = new ConcurrencyLimiter(options.MaxInFlightRequests);
        _senderPrefix = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8)) + ".";
        Errors = new ErrorQueue(options.ErrorQueueCapacity);

        // One timer expires every waiting request, instead of a timer per request (the hot path).
        _sweeper = time.CreateTimer(static state => ((MessageBus)state!).SweepExpired(), this, SweepPeriod, SweepPeriod);
    }

    /// <summary>The errors this process reported, newest first.</summary>
    public ErrorQueue Errors { get; }

    public MessagingOptions Options => _options;

    public ITransport Transport => _transport;

    /// <summary>Requests waiting for a reply right now.</summary>
    public int PendingRequests => _pending.Count;

    /// <summary>Durable deliveries dropped because their message id had been handled already.</summary>
    public long DuplicatesDropped => Interlocked.Read(ref _duplicates);

    private long _duplicates;

    /// <summary>Starts a bus on a transport (which it then owns).</summary>
    public static async Task<MessageBus> StartAsync(
        ITransport transport,
        MessagingOptions? options = null,
        TimeProvider? time = null,
        ILoggerFactory? loggers = null,
        CancellationToken cancellationToken = default)
    {
        var bus = new MessageBus(
            transport,
            (options ?? new MessagingOptions()).Validate(),
            time ?? TimeProvider.System,
            loggers?.CreateLogger<MessageBus>() ?? (ILogger)NullLogger.Instance);
        await transport.StartAsync(bus.OnReply, cancellationToken).ConfigureAwait(false);
        return bus;
    }

    // ---------------------------------------------------------------- services (request/reply)

    /// <summary>Subscribes a service handler: each request to <paramref name="topic"/> runs once per group.</summary>
    /// <param name="group">The exclusion group (mandatory; <see cref="TopicRules.DefaultGroup"/> is the usual one).</param>
    public async ValueTask<Subscription> ReplyToAsync(
        string topic, string group, RequestHandler handler, HandlerOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(handler);
        TopicRules.ValidateTopic(topic, _options.MaxTopicLength);
        TopicRules.ValidateGroup(group, required: true);
        ThrowIfDisposed();
        var subscription = NewSubscription(SubscriptionKind.Service, topic, group, options);
        if (!_services.TryAdd((topic, group), subscription))
        {
            throw new TrellisException(ErrorKind.AlreadyExists, $"Duplicate reply handler for topic:group '{topic}:{group}' in this process");
        }

        try
        {
            var spec = Subscription.Spec(ExchangeKind.Requests, topic, group, QueueLength(options), Prefetch(subscription));
            subscription.Attach(await _transport.ConsumeAsync(
                spec, (delivery, ct) => OnRequestDelivery(subscription, handler, delivery, ct), cancellationToken).ConfigureAwait(false));
        }
        catch
        {
            _services.TryRemove((topic, group), out _);
            throw;
        }

        _subscriptions.TryAdd(subscription, 0);
        return subscription;
    }

    /// <summary>Sends a request and waits for the first reply (or 404 / 499 / 503).</summary>
    public Task<Message> RequestAsync(string topic, JsonPayload data, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        TimeSpan wait;
        try
        {
            ValidateRequestTopic(topic);
            CheckPayload(data);
            wait = CheckTimeout(timeout ?? _options.DefaultRequestTimeout, "timeout");
            ThrowIfDisposed();
        }
        catch (Exception e)
        {
            // Bad input fails the returned task, as from the async method this was, never the call itself.
            return Task.FromException<Message>(e);
        }

        return SendRequestAsync(ExchangeKind.Requests, topic, data, messageId: null, wait, cancellationToken);
    }

    /// <summary>Publishes a durable request and waits for its reply, as <see cref="RequestAsync"/> does: the
    /// message waits in a durable queue (persistent and confirmed by the broker) until a durable subscriber
    /// handles it and answers with <see cref="ReplyAsync"/>; if its consumer dies first it is redelivered to
    /// the next one, whose reply still reaches this requester while it waits.</summary>
    /// <param name="messageId">Identifies the message across redeliveries, for the handler to deduplicate.</param>
    /// <param name="timeout">How long to wait for the reply (then 499); the message stays queued regardless
    /// and is handled later. Null for the default.</param>
    /// <returns>The reply; 404 when no durable queue is bound for the topic, 503 when it is full, 499 on timeout.</returns>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public Task<Message> RequestDurableAsync(
        string topic, JsonPayload data, string messageId, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        TimeSpan wait;
        try
        {
            TopicRules.ValidateTopic(topic, _options.MaxTopicLength);
            CheckPayload(data);
            CheckMessageId(messageId, required: true);
            wait = CheckTimeout(timeout ?? _options.DefaultRequestTimeout, "timeout");
            ThrowIfDisposed();
        }
        catch (Exception e)
        {
            return Task.FromException<Message>(e);
        }

        return SendRequestAsync(ExchangeKind.Durable, topic, data, messageId, wait, cancellationToken);
    }

    private async Task<Message> SendRequestAsync(
        ExchangeKind exchange, string topic, JsonPayload data, string? messageId, TimeSpan wait, CancellationToken cancellationToken)
    {
        if (!_inFlight.TryEnter())
        {
            // Over the window: the publisher slows down until a request finishes.
            await _inFlight.WaitAsync(cancellationToken).ConfigureAwait(false);
        }

        var sender = NextSender();
        var pending = new PendingRequest(_time.GetTimestamp() + (long)(wait.TotalSeconds * _time.TimestampFrequency));
        _pending[sender] = pending;
        var producer = BusTracing.StartPublish(_traceSystem, topic, messageId);
        var code = Codes.Ok;
        try
        {
            var message = new TransportMessage
            {
                Topic = topic,
                Data = data,
                Sender = sender,
                ReplyTo = _transport.ReplyAddress,
                MessageId = messageId,
                TimeoutMs = (int)Math.Min(int.MaxValue, wait.TotalMilliseconds),
                TraceContext = BusTracing.Context(producer),
                Caller = exchange == ExchangeKind.Durable ? null : BusTracing.Caller(_traceSystem),
            };

            var status = await _transport.PublishAsync(exchange, message, cancellationToken).ConfigureAwait(false);
            if (status != PublishStatus.Routed)
            {
                var failed = status == PublishStatus.Unroutable
                    ? Message.Error(Codes.NotFound, $"No active listeners for: {topic}")
                    : Message.Error(Codes.QueueFull, $"The queue for '{topic}' is full; try again later");
                Report(failed.Code, topic, sender, data, failed.Data, "requester");
                code = failed.Code;
                return failed;
            }

            var reply = cancellationToken.CanBeCanceled
                ? await pending.Task.WaitAsync(cancellationToken).ConfigureAwait(false)
                : await pending.Task.ConfigureAwait(false);
            if (ReferenceEquals(reply, TimedOut))
            {
                var timedOut = Message.Error(Codes.RequestTimeout, $"No reply to '{topic}' within {wait.TotalMilliseconds:0} ms");
                Report(timedOut.Code, topic, sender, data, timedOut.Data, "requester");
                code = timedOut.Code;
                return timedOut;
            }

            if (reply.Code == Codes.NotFound && reply.Data.IsNull)
            {
                // The broker returned the request: nobody was bound (the transport's late 404).
                var notFound = Message.Error(Codes.NotFound, $"No active listeners for: {topic}");
                Report(notFound.Code, topic, sender, data, notFound.Data, "requester");
                code = notFound.Code;
                return notFound;
            }

            if (reply.Code == Codes.QueueFull && reply.Data.IsNull)
            {
                // The broker refused the request: the queue was full (the transport's late 503).
                var full = Message.Error(Codes.QueueFull, $"The queue for '{topic}' is full; try again later");
                Report(full.Code, topic, sender, data, full.Data, "requester");
                code = full.Code;
                return full;
            }

            code = reply.Code;
            return new Message(reply.Data, reply.Code);
        }
        catch (Exception e) when (producer is not null)
        {
            MessagingTracing.Fail(producer, e);
            producer = null;
            throw;
        }
        finally
        {
            MessagingTracing.Finish(producer, code);
            if (!pending.Task.IsCompleted)
            {
                // Still registered (not routed, cancelled, failed): whoever completes a request removes it first.
                _pending.TryRemove(sender, out _);
            }

            _inFlight.Release();
        }
    }

    // ---------------------------------------------------------------- slots (signals)

    /// <summary>Subscribes a slot: every group-less slot matching the topic gets each signal, each group one copy.</summary>
    /// <param name="pattern">A topic in which <c>*</c> matches any run of characters, dots included.</param>
    public async ValueTask<Subscription> SlotAsync(
        string pattern, SignalHandler handler, string? group = null, HandlerOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(handler);
        TopicRules.ValidatePattern(pattern, _options.MaxTopicLength);
        TopicRules.ValidateGroup(group, required: false);
        ThrowIfDisposed();
        var subscription = NewSubscription(SubscriptionKind.Slot, pattern, group is { Length: > 0 } ? group : null, options);
        var spec = Subscription.Spec(ExchangeKind.Signals, pattern, subscription.Group, QueueLength(options), Prefetch(subscription));
        subscription.Attach(await _transport.ConsumeAsync(
            spec, (delivery, ct) => OnSignalDelivery(subscription, handler, delivery, ct), cancellationToken).ConfigureAwait(false));
        _subscriptions.TryAdd(subscription, 0);
        return subscription;
    }

    /// <summary>Publishes a signal (fire and forget). Returns whether a queue took it.</summary>
    public async ValueTask<PublishStatus> SignalAsync(string topic, JsonPayload data, CancellationToken cancellationToken = default)
    {
        TopicRules.ValidateTopic(topic, _options.MaxTopicLength);
        CheckPayload(data);
        ThrowIfDisposed();
        using var producer = BusTracing.StartPublish(_traceSystem, topic);
        var message = new TransportMessage
        {
            Topic = topic, Data = data, Sender = NextSender(), TraceContext = BusTracing.Context(producer),
        };
        var status = await _transport.PublishAsync(ExchangeKind.Signals, message, cancellationToken).ConfigureAwait(false);
        if (status == PublishStatus.QueueFull)
        {
            Report(Codes.QueueFull, topic, message.Sender, data, JsonPayload.From("a slot's queue is full"), "signaller");
        }

        MessagingTracing.Finish(producer, PublishCode(status));
        return status;
    }

    // ---------------------------------------------------------------- durable

    /// <summary>Subscribes durably: messages wait in a durable queue named by the group, are acknowledged
    /// when the handler returns, redelivered when a consumer dies first, and deduplicated by message id
    /// (unless <see cref="HandlerOptions.Deduplicate"/> is off). See <see cref="DurableHandler"/> for what
    /// returning, throwing and <see cref="RequeueException"/> do.</summary>
    /// <remarks>Disposing the subscription cancels the handlers still running; their messages are not
    /// acknowledged and go to the next consumer, flagged redelivered.</remarks>
    /// <exception cref="TrellisException">Kind FailedPrecondition: <see cref="HandlerOptions.SingleConsumer"/>
    /// is set and another consumer holds the queue.</exception>
    public async ValueTask<Subscription> SubscribeDurableAsync(
        string pattern, string group, DurableHandler handler, HandlerOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(handler);
        TopicRules.ValidatePattern(pattern, _options.MaxTopicLength);
        TopicRules.ValidateGroup(group, required: true, what: "group (the durable subscription's name)");
        ThrowIfDisposed();
        var subscription = NewSubscription(
            SubscriptionKind.Durable,
            pattern,
            group,
            options,
            options?.Deduplicate == false ? null : new DedupeWindow(_options.DedupeWindow),
            new DedupeWindow(_options.DedupeWindow),
            new DedupeWindow(_options.DedupeWindow));
        var spec = Subscription.Spec(ExchangeKind.Durable, pattern, group, QueueLength(options), Prefetch(subscription), options?.SingleConsumer ?? false);
        subscription.Attach(await _transport.ConsumeAsync(
            spec, (delivery, ct) => OnDurableDelivery(subscription, handler, delivery, ct), cancellationToken).ConfigureAwait(false));
        _subscriptions.TryAdd(subscription, 0);
        return subscription;
    }

    /// <summary>Publishes a durable message; <see cref="PublishStatus.Routed"/> means the broker holds it.</summary>
    /// <param name="messageId">Identifies the message for deduplication; a new id when null.</param>
    public ValueTask<PublishStatus> PublishDurableAsync(string topic, JsonPayload data, string? messageId = null, CancellationToken cancellationToken = default)
    {
        TopicRules.ValidateTopic(topic, _options.MaxTopicLength);
        CheckPayload(data);
        CheckMessageId(messageId, required: false);
        ThrowIfDisposed();
        var id = messageId ?? NextSender();
        var producer = BusTracing.StartPublish(_traceSystem, topic, id);
        var message = new TransportMessage
        {
            Topic = topic, Data = data, Sender = NextSender(), MessageId = id, TraceContext = BusTracing.Context(producer),
        };
        var publish = _transport.PublishAsync(ExchangeKind.Durable, message, cancellationToken);
        return producer is null ? publish : TracePublishAsync(producer, publish);
    }

    /// <summary>Ends a producer span when its publish completes.</summary>
    private static async ValueTask<PublishStatus> TracePublishAsync(System.Diagnostics.Activity producer, ValueTask<PublishStatus> publish)
    {
        try
        {
            var status = await publish.ConfigureAwait(false);
            MessagingTracing.Finish(producer, PublishCode(status));
            return status;
        }
        catch (Exception e)
        {
            MessagingTracing.Fail(producer, e);
            throw;
        }
    }

    private static int PublishCode(PublishStatus status) => status switch
    {
        PublishStatus.Routed => Codes.Ok,
        PublishStatus.Unroutable => Codes.NotFound,
        _ => Codes.QueueFull,
    };

    /// <summary>Declares the durable queue of a group and its binding without subscribing, so messages
    /// published before anyone subscribes wait in it instead of being unroutable. The queue outlives its
    /// consumers; <see cref="SubscribeDurableAsync"/> with the same pattern and group consumes it.</summary>
    /// <param name="maxLength">Ready messages the queue holds; null for the default. The first declaration's
    /// limit stays.</param>
    public async ValueTask DeclareDurableQueueAsync(string pattern, string group, int? maxLength = null, CancellationToken cancellationToken = default)
    {
        TopicRules.ValidatePattern(pattern, _options.MaxTopicLength);
        TopicRules.ValidateGroup(group, required: true, what: "group (the durable subscription's name)");
        var length = QueueLength(new HandlerOptions { MaxQueueLength = maxLength });
        ThrowIfDisposed();
        await _transport.DeclareAsync(new QueueSpec(ExchangeKind.Durable, pattern, group, length), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Answers a durable request (<see cref="RequestDurableAsync"/>) under its sender; does nothing
    /// for a durable message without <see cref="DurableMessage.ReplyTo"/>. A handler may reply before it
    /// returns; the message is acknowledged when it returns. A reply reaching a requester that stopped
    /// waiting is dropped there. Codes of 300 and above are reported on the error channel.</summary>
    public ValueTask ReplyAsync(DurableMessage message, Message reply, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        CheckPayload(reply.Data);
        ThrowIfDisposed();
        if (message.ReplyTo is null)
        {
            return ValueTask.CompletedTask;
        }

        if (Codes.IsError(reply.Code))
        {
            Report(reply.Code, message.Topic, message.Sender, message.Data, reply.Data, "handler");
        }

        var answer = new TransportMessage { Topic = message.Topic, Data = reply.Data, Code = reply.Code, Sender = message.Sender };
        return _transport.SendReplyAsync(message.ReplyTo, answer, cancellationToken);
    }

    // ---------------------------------------------------------------- delivery paths

    private ValueTask OnRequestDelivery(Subscription subscription, RequestHandler handler, Delivery delivery, CancellationToken cancellationToken)
    {
        var message = delivery.Message;
        if (message.ReplyTo is null || !subscription.Matches(message.Topic))
        {
            return ValueTask.CompletedTask;
        }

        if (!subscription.Concurrency.TryEnter())
        {
            return WaitThenRunRequestAsync(subscription, handler, message, cancellationToken);
        }

        RunRequest(subscription, handler, message);
        return ValueTask.CompletedTask;
    }

    private async ValueTask WaitThenRunRequestAsync(Subscription subscription, RequestHandler handler, TransportMessage message, CancellationToken cancellationToken)
    {
        try
        {
            await subscription.Concurrency.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The subscription stopped while the request waited for a free handler: its requester learns so now.
            var reply = new TransportMessage { Topic = message.Topic, Data = JsonPayload.From($"the handler of {message.Topic} stopped before it took the request"), Code = Codes.Unavailable, Sender = message.Sender };
            await ObserveAsync(_transport.SendReplyAsync(message.ReplyTo!, reply, CancellationToken.None), message.Topic).ConfigureAwait(false);
            return;
        }

        RunRequest(subscription, handler, message);
    }

    /// <summary>Runs the handler; replies inline when it completes synchronously, else in the background.</summary>
    private void RunRequest(Subscription subscription, RequestHandler handler, TransportMessage message)
    {
        var started = BusMetrics.RequestStarted();
        var request = new Request(message.Topic, message.Data, message.Sender, TimeSpan.FromMilliseconds(message.TimeoutMs), message.MessageId);
        var cancel = subscription.RentCancellation();
        var span = BusTracing.StartRequest(_traceSystem, subscription, message, request);
        ValueTask<Message> running;
        try
        {
            running = handler(request, cancel.Token);
        }
        catch (Exception e)
        {
            subscription.ReturnCancellation(cancel);
            var failed = HandlerFailed(subscription, e);
            span.Finish(failed.Code);
            span.Leave();
            FinishRequest(subscription, message, failed, started);
            return;
        }

        if (running.IsCompletedSuccessfully)
        {
            subscription.ReturnCancellation(cancel);
            var result = running.Result;
            span.Finish(result.Code);
            span.Leave();
            FinishRequest(subscription, message, result, started);
            return;
        }

        span.Leave();
        _ = CompleteRequestAsync(subscription, message, running, cancel, span, started);
    }

    private async Task CompleteRequestAsync(
        Subscription subscription, TransportMessage message, ValueTask<Message> running, CancellationTokenSource cancel, BusTracing.DeliverySpan span, long started)
    {
        // Only handlers that go asynchronous pay for being cancelled when their subscription stops.
        using var stopping = subscription.Stopping.UnsafeRegister(static c => ((CancellationTokenSource)c!).Cancel(), cancel);
        Message result;
        try
        {
            result = await running.AsTask().WaitAsync(subscription.Timeout, _time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            await cancel.CancelAsync().ConfigureAwait(false);
            result = Message.Error(Codes.HandlerTimeout, $"Execution timed out after {subscription.Timeout.TotalMilliseconds:0} ms");
        }
        catch (Exception e)
        {
            result = HandlerFailed(subscription, e);
        }

        span.Finish(result.Code);
        FinishRequest(subscription, message, result, started);
    }

    private void FinishRequest(Subscription subscription, TransportMessage request, Message result, long started)
    {
        BusMetrics.RequestFinished(request.Topic, subscription.Group, result.Code, started);
        try
        {
            if (Codes.IsError(result.Code))
            {
                Report(result.Code, request.Topic, request.Sender, request.Data, result.Data, "handler");
            }
        }
        finally
        {
            // Free the slot before answering: the requester may resume on this very thread (ReplyCompletion).
            subscription.Concurrency.Release();
        }

        var reply = new TransportMessage { Topic = request.Topic, Data = result.Data, Code = result.Code, Sender = request.Sender };
        ValueTask sending;
        using (ReplyCompletion.AllowInline())
        {
            sending = _transport.SendReplyAsync(request.ReplyTo!, reply, CancellationToken.None);
        }

        if (!sending.IsCompletedSuccessfully)
        {
            _ = ObserveAsync(sending, request.Topic);
        }
    }

    private async Task ObserveAsync(ValueTask sending, string topic)
    {
        try
        {
            await sending.ConfigureAwait(false);
        }
        catch (Exception e)
        {
            LogReplyFailed(_logger, e, topic);
        }
    }

    private ValueTask OnSignalDelivery(Subscription subscription, SignalHandler handler, Delivery delivery, CancellationToken cancellationToken)
    {
        if (!subscription.Matches(delivery.Message.Topic))
        {
            return ValueTask.CompletedTask;
        }

        if (!subscription.Concurrency.TryEnter())
        {
            return WaitThenRunSignalAsync(subscription, handler, delivery.Message, cancellationToken);
        }

        RunSignal(subscription, handler, delivery.Message);
        return ValueTask.CompletedTask;
    }

    private async ValueTask WaitThenRunSignalAsync(Subscription subscription, SignalHandler handler, TransportMessage message, CancellationToken cancellationToken)
    {
        await subscription.Concurrency.WaitAsync(cancellationToken).ConfigureAwait(false);
        RunSignal(subscription, handler, message);
    }

    private void RunSignal(Subscription subscription, SignalHandler handler, TransportMessage message)
    {
        BusMetrics.SignalDelivered(message.Topic);
        var signal = new Signal(message.Topic, message.Data, message.Sender, message.MessageId);
        var cancel = subscription.RentCancellation();
        var span = BusTracing.StartDelivery(_traceSystem, subscription, message);
        ValueTask running;
        try
        {
            running = handler(signal, cancel.Token);
        }
        catch (Exception e)
        {
            subscription.ReturnCancellation(cancel);
            var failed = HandlerFailed(subscription, e);
            span.Finish(failed.Code);
            span.Leave();
            SignalFailed(subscription, message, failed);
            subscription.Concurrency.Release();
            return;
        }

        if (running.IsCompletedSuccessfully)
        {
            subscription.ReturnCancellation(cancel);
            span.Finish(Codes.Ok);
            span.Leave();
            subscription.Concurrency.Release();
            return;
        }

        span.Leave();
        _ = CompleteSignalAsync(subscription, message, running, cancel, span);
    }

    private async Task CompleteSignalAsync(
        Subscription subscription, TransportMessage message, ValueTask running, CancellationTokenSource cancel, BusTracing.DeliverySpan span)
    {
        using var stopping = subscription.Stopping.UnsafeRegister(static c => ((CancellationTokenSource)c!).Cancel(), cancel);
        var code = Codes.Ok;
        try
        {
            await running.AsTask().WaitAsync(subscription.Timeout, _time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            await cancel.CancelAsync().ConfigureAwait(false);
            code = Codes.HandlerTimeout;
            SignalFailed(subscription, message, Message.Error(Codes.HandlerTimeout, $"Execution timed out after {subscription.Timeout.TotalMilliseconds:0} ms"));
        }
        catch (Exception e)
        {
            code = Codes.HandlerError;
            SignalFailed(subscription, message, HandlerFailed(subscription, e));
        }
        finally
        {
            span.Finish(code);
            subscription.Concurrency.Release();
        }
    }

    private void SignalFailed(Subscription subscription, TransportMessage message, Message result)
    {
        if (!string.Equals(message.Topic, _options.ErrorTopic, StringComparison.Ordinal))
        {
            Report(result.Code, message.Topic, message.Sender, message.Data, result.Data, "slot");
        }
    }

    private async ValueTask OnDurableDelivery(Subscription subscription, DurableHandler handler, Delivery delivery, CancellationToken cancellationToken)
    {
        var message = delivery.Message;
        var id = message.MessageId ?? message.Sender;
        if (!subscription.Matches(message.Topic))
        {
            await delivery.AckAsync().ConfigureAwait(false);
            return;
        }

        if (subscription.Dedupe?.Contains(id) == true)
        {
            Interlocked.Increment(ref _duplicates);
            await delivery.AckAsync().ConfigureAwait(false);
            return;
        }

        if (!subscription.Concurrency.TryEnter())
        {
            await subscription.Concurrency.WaitAsync(cancellationToken).ConfigureAwait(false);
        }

        _ = RunDurableAsync(subscription, handler, delivery, id);
    }

    private async Task RunDurableAsync(Subscription subscription, DurableHandler handler, Delivery delivery, string id)
    {
        var message = delivery.Message;
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(subscription.Stopping);
        var span = BusTracing.StartDelivery(_traceSystem, subscription, message);
        var code = Codes.Ok;
        try
        {
            var durable = new DurableMessage(message.Topic, message.Data, id, delivery.Redelivered)
            {
                Sender = message.Sender,
                ReplyTo = message.ReplyTo,
                Timeout = TimeSpan.FromMilliseconds(message.TimeoutMs),
            };
            await handler(durable, cancel.Token).AsTask().WaitAsync(subscription.Timeout, _time).ConfigureAwait(false);
            subscription.Dedupe?.Add(id);
            subscription.Failed!.Remove(id);
            subscription.Requeued!.Remove(id);
            await delivery.AckAsync().ConfigureAwait(false);
        }
        catch (Exception) when (subscription.Stopping.IsCancellationRequested)
        {
            // Unsubscribing cancelled the handler: leave the message unacknowledged, so the broker hands it
            // to the next consumer. Not a failure of the message.
            code = Codes.Unavailable;
        }
        catch (RequeueException e)
        {
            code = Codes.Unavailable;
            subscription.Requeued!.Add(id);
            LogRequeued(_logger, message.Topic, id, e.Message);
            await delivery.RejectAsync(requeue: true).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            await cancel.CancelAsync().ConfigureAwait(false);
            var failure = e is TimeoutException
                ? Message.Error(Codes.HandlerTimeout, $"Execution timed out after {subscription.Timeout.TotalMilliseconds:0} ms")
                : HandlerFailed(subscription, e);
            code = failure.Code;

            // One retry; a message that fails twice goes to the error queue rather than looping. A redelivered
            // message may have failed in another process, unless it came back because a handler here gave
            // it back (RequeueException), which is no failure.
            var failedBefore = subscription.Failed!.Contains(id) || (delivery.Redelivered && !subscription.Requeued!.Contains(id));
            if (failedBefore)
            {
                subscription.Failed.Remove(id);
                subscription.Requeued!.Remove(id);
            }
            else
            {
                subscription.Failed.Add(id);
            }

            await delivery.RejectAsync(requeue: !failedBefore).ConfigureAwait(false);
            Report(failure.Code, message.Topic, id, message.Data, failure.Data, failedBefore ? "durable-dropped" : "durable-retry");
            if (failedBefore && message.ReplyTo is not null)
            {
                // The requester of a dropped durable request learns why, if it still waits.
                var reply = new TransportMessage { Topic = message.Topic, Data = failure.Data, Code = failure.Code, Sender = message.Sender };
                await ObserveAsync(_transport.SendReplyAsync(message.ReplyTo, reply, CancellationToken.None), message.Topic).ConfigureAwait(false);
            }
        }
        finally
        {
            span.Finish(code);
            subscription.Concurrency.Release();
        }
    }

    private Message HandlerFailed(Subscription subscription, Exception e)
    {
        LogHandlerFailed(_logger, e, subscription.Topic);
        return Message.Error(Codes.HandlerError, e.Message);
    }

    // ---------------------------------------------------------------- replies, errors, plumbing

    private void SweepExpired()
    {
        if (_pending.IsEmpty)
        {
            return;
        }

        var now = _time.GetTimestamp();
        foreach (var (sender, pending) in _pending)
        {
            if (now >= pending.Deadline && _pending.TryRemove(new KeyValuePair<string, PendingRequest>(sender, pending)))
            {
                // Never the requester's code on the timer's thread.
                pending.Reply = TimedOut;
                ThreadPool.UnsafeQueueUserWorkItem(pending, preferLocal: false);
            }
        }
    }

    private void OnReply(TransportMessage reply)
    {
        if (_pending.TryRemove(reply.Sender, out var pending))
        {
            pending.Reply = reply;
            ReplyCompletion.Complete(pending);
        }
    }

    private void Report(int code, string topic, string sender, JsonPayload requestData, JsonPayload userData, string origin)
    {
        BusMetrics.ErrorReported(topic, code);
        var report = new ErrorReport(code, topic, sender, requestData, userData, _time.GetUtcNow(), origin);
        Errors.Add(report);
        if (string.Equals(topic, _options.ErrorTopic, StringComparison.Ordinal) || Volatile.Read(ref _disposed) != 0)
        {
            return;
        }

        var publish = _transport.PublishAsync(
            ExchangeKind.Signals,
            new TransportMessage { Topic = _options.ErrorTopic, Data = JsonPayload.From(report), Code = code, Sender = sender },
            CancellationToken.None);
        if (!publish.IsCompletedSuccessfully)
        {
            _ = ObserveErrorPublishAsync(publish);
        }
    }

    private async Task ObserveErrorPublishAsync(ValueTask<PublishStatus> publish)
    {
        try
        {
            await publish.ConfigureAwait(false);
        }
        catch (Exception e)
        {
            LogReplyFailed(_logger, e, _options.ErrorTopic);
        }
    }

    private Subscription NewSubscription(
        SubscriptionKind kind, string topic, string? group, HandlerOptions? options, DedupeWindow? dedupe = null, DedupeWindow? failed = null, DedupeWindow? requeued = null)
    {
        if (options?.SingleConsumer == true && kind != SubscriptionKind.Durable)
        {
            throw TrellisException.Invalid("SingleConsumer applies only to durable subscriptions");
        }

        if (options?.PassesTraceOn == true && kind != SubscriptionKind.Service)
        {
            throw TrellisException.Invalid("PassesTraceOn applies only to services");
        }

        var timeout = CheckTimeout(options?.Timeout ?? _options.DefaultHandlerTimeout, "handler timeout");
        var concurrency = options?.Concurrency ?? _options.HandlerConcurrency;
        if (concurrency < 1)
        {
            throw TrellisException.Invalid($"concurrency must be at least 1 (was {concurrency})");
        }

        return new Subscription(kind, topic, group, timeout, concurrency, Forget)
        {
            IsPattern = TopicRules.HasWildcard(topic),
            PassesTraceOn = options?.PassesTraceOn == true,
            Unfiltered = _transport.DeliversOnlyMatches,
            Dedupe = dedupe,
            Failed = failed,
            Requeued = requeued,
        };
    }

    private ValueTask Forget(Subscription subscription)
    {
        _subscriptions.TryRemove(subscription, out _);
        if (subscription.Kind == SubscriptionKind.Service)
        {
            _services.TryRemove(new KeyValuePair<(string, string), Subscription>((subscription.Topic, subscription.Group!), subscription));
        }

        return ValueTask.CompletedTask;
    }

    private int QueueLength(HandlerOptions? options)
    {
        var length = options?.MaxQueueLength ?? _options.QueueMaxLength;
        return length >= 1 ? length : throw TrellisException.Invalid($"queue length must be at least 1 (was {length})");
    }

    private static int Prefetch(Subscription subscription) => Math.Max(1, Math.Min(subscription.Concurrency.Limit, 1000));

    private void CheckPayload(JsonPayload data)
    {
        if (data.Length > _options.MaxPayloadBytes)
        {
            throw TrellisException.TooLarge($"message is {data.Length} bytes; the limit is {_options.MaxPayloadBytes} (Trellis:Messaging:MaxPayloadBytes)");
        }
    }

    private static void CheckMessageId(string? messageId, bool required)
    {
        if (messageId is null ? required : messageId.Length is 0 or > 200)
        {
            throw TrellisException.Invalid("messageId must be 1 to 200 characters long");
        }
    }

    private TimeSpan CheckTimeout(TimeSpan timeout, string what)
    {
        if (timeout <= TimeSpan.Zero)
        {
            throw TrellisException.Invalid($"{what} must be positive (was {timeout.TotalMilliseconds:0} ms)");
        }

        if (timeout > _options.MaxTimeout)
        {
            throw TrellisException.Invalid($"{what} of {timeout.TotalSeconds:0} s is longer than the limit of {_options.MaxTimeout.TotalSeconds:0} s");
        }

        return timeout;
    }

    /// <summary>Validates a request topic, remembering the last valid one: callers usually pass the same string again.</summary>
    private void ValidateRequestTopic(string topic)
    {
        if (!ReferenceEquals(topic, Volatile.Read(ref _lastRequestTopic)))
        {
            TopicRules.ValidateTopic(topic, _options.MaxTopicLength);
            Volatile.Write(ref _lastRequestTopic, topic);
        }
    }

    private string NextSender()
    {
        var sequence = (ulong)Interlocked.Increment(ref _senderSequence);
        var digits = Math.Max(1, (64 - System.Numerics.BitOperations.LeadingZeroCount(sequence) + 3) / 4);
        return string.Create(_senderPrefix.Length + digits, (_senderPrefix, sequence), static (span, state) =>
        {
            state._senderPrefix.CopyTo(span);
            var value = state.sequence;
            for (var i = span.Length - 1; i >= state._senderPrefix.Length; i--, value >>= 4)
            {
                span[i] = "0123456789abcdef"[(int)(value & 0xF)];
            }
        });
    }

    private void ThrowIfDisposed()
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            throw new ObjectDisposedException(nameof(MessageBus));
        }
    }

    /// <summary>Unsubscribes everything, fails waiting requests, and disposes the transport.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        foreach (var subscription in _subscriptions.Keys)
        {
            await subscription.DisposeAsync().ConfigureAwait(false);
        }

        await _sweeper.DisposeAsync().ConfigureAwait(false);
        foreach (var pending in _pending.Values)
        {
            // Reply left null: cancelled, on the thread pool.
            ThreadPool.UnsafeQueueUserWorkItem(pending, preferLocal: false);
        }

        await _transport.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>A requester waiting for its reply. Continuations run where <see cref="IThreadPoolWorkItem.Execute"/> is
    /// called: inline only where <see cref="ReplyCompletion"/> finds it safe, else on the thread pool.</summary>
    private sealed class PendingRequest(long deadline) : TaskCompletionSource<TransportMessage>, IThreadPoolWorkItem
    {
        /// <summary>When the requester stops waiting, as a <see cref="TimeProvider"/> timestamp.</summary>
        public long Deadline { get; } = deadline;

        /// <summary>Set by whoever removed the request from the pending table; null cancels it.</summary>
        public TransportMessage? Reply { get; set; }

        public void Execute()
        {
            if (Reply is { } reply)
            {
                TrySetResult(reply);
            }
            else
            {
                TrySetCanceled();
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Handler for {Topic} failed")]
    private static partial void LogHandlerFailed(ILogger logger, Exception exception, string topic);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Durable message {MessageId} on {Topic} given back by its handler: {Reason}")]
    private static partial void LogRequeued(ILogger logger, string topic, string messageId, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not publish to {Topic}")]
    private static partial void LogReplyFailed(ILogger logger, Exception exception, string topic);
}
