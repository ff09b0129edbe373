using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using RabbitMQ.Client.Exceptions;
using Trellis.Core.Errors;
using Trellis.Core.Messaging;
using Trellis.Core.Topics;
using Trellis.Core.Transport;
using Trellis.Transport.RabbitMq.Internal;

namespace Trellis.Transport.RabbitMq;

/// <summary>The kernel's broker topology on a RabbitMQ server: three exchanges, a queue per
/// (pattern, group) shared by the group's members, exclusive queues for group-less slots, direct reply-to
/// for replies, mandatory routing for 404, and publisher confirms for back-pressure and durability.</summary>
/// <remarks>
/// Exchanges: signals and durable messages go through topic exchanges, which bind glob patterns (wider, see
/// <see cref="Topology.BindingKey"/>). Service topics never hold a wildcard, so requests go through a
/// direct exchange: the same routing for exact keys, and in P2 about 25–35 µs less broker CPU per request
/// than a topic exchange, which walks its trie for every message.
/// Channels: one connection per transport (one per process); requests go out on
/// <see cref="RabbitMqOptions.RequestChannels"/> channels that also consume their direct replies; signals
/// and durable messages on one confirming channel; replies to others on one channel without confirms; and
/// each consumer has a channel of its own, so its prefetch window, acknowledgements and back-pressure are
/// independent and closing it requeues only its own deliveries.
/// </remarks>
public sealed partial class RabbitMqTransport : ITransport
{
    private static readonly CreateChannelOptions Confirming = new(
        publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true, outstandingPublisherConfirmationsRateLimiter: null);

    /// <summary>Confirms the requester does not wait for (<see cref="RequestPublisher"/> tracks them).</summary>
    private static readonly CreateChannelOptions ConfirmingUntracked = new(
        publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: false, outstandingPublisherConfirmationsRateLimiter: null);

    private static readonly CreateChannelOptions Plain = new(
        publisherConfirmationsEnabled: false, publisherConfirmationTrackingEnabled: false, outstandingPublisherConfirmationsRateLimiter: null);

    private readonly RabbitMqOptions _options;
    private readonly string _requestsExchange;
    private readonly string _signalsExchange;
    private readonly string _durableExchange;
    private readonly ILogger _logger;
    private readonly ILogger _consumerLogger;
    private readonly Lock _lock = new();
    private readonly HashSet<QueueConsumer> _consumers = [];
    private IConnection? _connection;
    private PublisherChannel<RequestPublisher>[] _requestChannels = [];
    private PublisherChannel<object>? _confirmed;
    private PublisherChannel<object>? _durableRequests;
    private PublisherChannel<object>? _plain;
    private ReplyHandler? _onReply;
    private uint _nextRequestChannel;
    private int _disposed;

    public RabbitMqTransport(RabbitMqOptions options, ILoggerFactory? loggers = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Validate();
        _requestsExchange = options.RequestsExchange;
        _signalsExchange = options.SignalsExchange;
        _durableExchange = options.DurableExchange;
        _logger = loggers?.CreateLogger<RabbitMqTransport>() ?? (ILogger)NullLogger.Instance;
        _consumerLogger = loggers?.CreateLogger("Trellis.Transport.RabbitMq.Consumer") ?? NullLogger.Instance;
    }

    public string Name => "rabbitmq";

    /// <summary>Always RabbitMQ's direct reply-to address: the broker rewrites it into a per-channel
    /// address as each request is published, and the reply goes there.</summary>
    public string ReplyAddress => Wire.DirectReplyTo;

    public RabbitMqOptions Options => _options;

    /// <summary>The broker connection, once started (tests watch its events).</summary>
    internal IConnection? Connection => _connection;

    public async ValueTask StartAsync(ReplyHandler onReply, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(onReply);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (_connection is not null)
        {
            throw new InvalidOperationException("The RabbitMQ transport is started already");
        }

        _onReply = onReply;
        var factory = new ConnectionFactory
        {
            Uri = _options.Uri!,
            ClientProvidedName = _options.ConnectionName,
            AutomaticRecoveryEnabled = true,
            TopologyRecoveryEnabled = true,
            NetworkRecoveryInterval = _options.RecoveryInterval,
            RequestedHeartbeat = _options.Heartbeat,
        };

        IConnection connection;
        try
        {
            connection = await factory.CreateConnectionAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw Unavailable($"cannot connect to {RabbitMqOptions.Redacted(_options.Uri!)}: {Innermost(e).Message}", e);
        }

        try
        {
            connection.ConnectionShutdownAsync += OnConnectionShutdownAsync;
            connection.RecoverySucceededAsync += OnRecoverySucceededAsync;
            connection.ConnectionRecoveryErrorAsync += OnRecoveryErrorAsync;
            await DeclareExchangesAsync(connection, cancellationToken).ConfigureAwait(false);

            var requestChannels = new PublisherChannel<RequestPublisher>[_options.RequestChannels];
            for (var i = 0; i < requestChannels.Length; i++)
            {
                requestChannels[i] = await PublisherChannel<RequestPublisher>.OpenAsync(
                    connection, _options.ConfirmRequests ? ConfirmingUntracked : Plain, SetUpRequestChannelAsync, "requests", _logger, cancellationToken).ConfigureAwait(false);
            }

            _requestChannels = requestChannels;
            _confirmed = await PublisherChannel<object>.OpenAsync(connection, Confirming, null, "confirmed", _logger, cancellationToken).ConfigureAwait(false);
            _durableRequests = await PublisherChannel<object>.OpenAsync(
                connection, Confirming, SetUpDurableRequestChannelAsync, "durable requests", _logger, cancellationToken).ConfigureAwait(false);
            _plain = await PublisherChannel<object>.OpenAsync(connection, Plain, null, "replies", _logger, cancellationToken).ConfigureAwait(false);
            _connection = connection;
            LogConnected(_logger, RabbitMqOptions.Redacted(_options.Uri!), _options.Prefix);
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public async ValueTask<IAsyncDisposable> ConsumeAsync(QueueSpec queue, DeliveryHandler handler, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(queue);
        ArgumentNullException.ThrowIfNull(handler);
        queue.Validate();
        var connection = Running();
        if (queue.Exchange == ExchangeKind.Requests && TopicRules.HasWildcard(queue.Pattern))
        {
            throw new ArgumentException($"A service topic cannot hold a wildcard (was '{queue.Pattern}'); only signals and durable subscriptions bind patterns", nameof(queue));
        }

        var prefetch = (ushort)Math.Min(queue.Prefetch >= 1 ? queue.Prefetch : _options.DefaultPrefetch, _options.MaxPrefetch);
        var exchange = ExchangeName(queue.Exchange);
        var bindingKey = Topology.BindingKey(queue.Pattern);
        for (var attempt = 1; ; attempt++)
        {
            IChannel? channel = null;
            try
            {
                channel = await OpenConsumerChannelAsync(connection, prefetch, cancellationToken).ConfigureAwait(false);
                string name;
                (channel, name) = await DeclareQueueAsync(connection, channel, queue, prefetch, cancellationToken).ConfigureAwait(false);
                await channel.QueueBindAsync(name, exchange, bindingKey, cancellationToken: cancellationToken).ConfigureAwait(false);

                var consumer = new QueueConsumer(channel, this, queue, name, handler, _consumerLogger);
                lock (_lock)
                {
                    ObjectDisposedException.ThrowIf(_disposed != 0, this);
                    _consumers.Add(consumer);
                }

                try
                {
                    // An exclusive consumer is the broker's own guard for a single consumer: it refuses the
                    // consume (403 ACCESS_REFUSED, closing this channel only) while another holds the queue.
                    await channel.BasicConsumeAsync(
                        name, autoAck: false, consumerTag: "", noLocal: false, exclusive: queue.SingleConsumer, arguments: null, consumer, cancellationToken)
                        .ConfigureAwait(false);
                }
                catch
                {
                    Forget(consumer);
                    throw;
                }

                LogConsuming(_logger, name, exchange, bindingKey, prefetch);
                return consumer;
            }
            catch (OperationInterruptedException e) when (e.ShutdownReason?.ReplyCode == Constants.NotFound && queue.Group is not null && attempt < 3)
            {
                // The group's last member deleted the shared queue between our declare and our consume.
                LogRedeclaring(_logger, queue.SharedName);
                await DisposeQuietlyAsync(channel).ConfigureAwait(false);
            }
            catch (OperationInterruptedException e) when (queue.SingleConsumer && e.ShutdownReason is { Initiator: ShutdownInitiator.Peer, ReplyCode: Constants.AccessRefused })
            {
                await DisposeQuietlyAsync(channel).ConfigureAwait(false);
                throw new TrellisException(
                    ErrorKind.FailedPrecondition,
                    $"Queue '{Topology.QueueName(_options.Prefix, queue)}' is consumed by a single consumer at a time and another consumer holds it; try again after it stops (RabbitMQ: {e.ShutdownReason.ReplyText})",
                    e);
            }
            catch (OperationInterruptedException e) when (IsChannelError(e))
            {
                // The broker refused the declaration, binding or consumer (permissions, an exclusive queue
                // of another connection...): a configuration problem, not an outage.
                await DisposeQuietlyAsync(channel).ConfigureAwait(false);
                throw new TrellisException(
                    ErrorKind.FailedPrecondition, $"RabbitMQ refused to consume from '{queue.SharedName}': {e.ShutdownReason!.ReplyCode} {e.ShutdownReason.ReplyText}", e);
            }
            catch (Exception e) when (e is OperationInterruptedException or IOException)
            {
                await DisposeQuietlyAsync(channel).ConfigureAwait(false);
                throw Unavailable($"cannot consume from '{queue.SharedName}': {e.Message}", e);
            }
            catch
            {
                await DisposeQuietlyAsync(channel).ConfigureAwait(false);
                throw;
            }
        }
    }

    /// <summary>Declares a durable queue of a group (durable, not auto-delete) and binds it, on a channel of
    /// its own that is closed again.</summary>
    public async ValueTask DeclareAsync(QueueSpec queue, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(queue);
        queue.Validate();
        if (queue.Exchange != ExchangeKind.Durable || queue.Group is null)
        {
            throw new ArgumentException($"Only durable queues of a group can be declared without a consumer (was {queue.Exchange} '{queue.Pattern}', group '{queue.Group}')", nameof(queue));
        }

        var connection = Running();
        IChannel? channel = null;
        try
        {
            channel = await OpenConsumerChannelAsync(connection, 1, cancellationToken).ConfigureAwait(false);
            string name;
            (channel, name) = await DeclareQueueAsync(connection, channel, queue, 1, cancellationToken).ConfigureAwait(false);
            await channel.QueueBindAsync(name, _durableExchange, Topology.BindingKey(queue.Pattern), cancellationToken: cancellationToken).ConfigureAwait(false);
            await channel.CloseAsync(cancellationToken).ConfigureAwait(false);
            LogDeclared(_logger, name, _durableExchange);
        }
        catch (OperationInterruptedException e) when (IsChannelError(e))
        {
            throw new TrellisException(
                ErrorKind.FailedPrecondition, $"RabbitMQ refused to declare '{queue.SharedName}': {e.ShutdownReason!.ReplyCode} {e.ShutdownReason.ReplyText}", e);
        }
        catch (Exception e) when (e is OperationInterruptedException or IOException)
        {
            throw Unavailable($"cannot declare '{queue.SharedName}': {e.Message}", e);
        }
        finally
        {
            await DisposeQuietlyAsync(channel).ConfigureAwait(false);
        }
    }

    /// <summary>Publishes to one of the three exchanges. Never throws synchronously: a broker that cannot be
    /// reached gives a faulted task with a <see cref="TrellisException"/> of kind Unavailable.</summary>
    public ValueTask<PublishStatus> PublishAsync(ExchangeKind exchange, TransportMessage message, CancellationToken cancellationToken)
    {
        var started = RabbitMqMetrics.Start();
        return RabbitMqMetrics.Track(StartPublish(exchange, message, cancellationToken), MetricsExchange(exchange), started);
    }

    private string MetricsExchange(ExchangeKind kind) => kind switch
    {
        ExchangeKind.Requests => _requestsExchange,
        ExchangeKind.Signals => _signalsExchange,
        _ => _durableExchange,
    };

    private ValueTask<PublishStatus> StartPublish(ExchangeKind exchange, TransportMessage message, CancellationToken cancellationToken)
    {
        try
        {
            ArgumentNullException.ThrowIfNull(message);
            Running();
            switch (exchange)
            {
                case ExchangeKind.Requests:
                    var channels = _requestChannels;
                    var channel = channels.Length == 1 ? channels[0] : channels[Interlocked.Increment(ref _nextRequestChannel) % (uint)channels.Length];
                    return PublishRequestAsync(channel, message, cancellationToken);
                case ExchangeKind.Signals:
                    // Mandatory only where a confirm reports the return: an unconfirmed signal nobody hears is fine.
                    return _options.ConfirmSignals
                        ? PublishCoreAsync(_confirmed!, _signalsExchange, message, mandatory: true, persistent: false, cancellationToken)
                        : PublishCoreAsync(_plain!, _signalsExchange, message, mandatory: false, persistent: false, cancellationToken);
                case ExchangeKind.Durable:
                    // A durable request goes out on the channel that consumes its direct reply-to address,
                    // which the broker rewrites into that channel's own, so the reply comes back to it.
                    return PublishCoreAsync(
                        message.ReplyTo is null ? _confirmed! : _durableRequests!, _durableExchange, message, mandatory: true, persistent: true, cancellationToken);
                default:
                    throw new ArgumentOutOfRangeException(nameof(exchange), exchange, "unknown exchange");
            }
        }
        catch (Exception e)
        {
            return ValueTask.FromException<PublishStatus>(e);
        }
    }

    public async ValueTask SendReplyAsync(string replyTo, TransportMessage reply, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(replyTo);
        ArgumentNullException.ThrowIfNull(reply);
        Running();
        var started = RabbitMqMetrics.Start();
        try
        {
            var channel = (await _plain!.GetAsync(cancellationToken).ConfigureAwait(false)).Channel;

            // The default exchange routes by queue name; direct reply-to addresses are names it knows.
            await channel.BasicPublishAsync("", replyTo, mandatory: false, Wire.Properties(reply, persistent: false), reply.Data.Utf8, cancellationToken)
                .ConfigureAwait(false);
            RabbitMqMetrics.Published(RabbitMqMetrics.DefaultExchange, started);
        }
        catch (Exception e) when (e is OperationInterruptedException or IOException)
        {
            RabbitMqMetrics.Published(RabbitMqMetrics.DefaultExchange, started, e.GetType().Name);
            throw Unavailable(e.Message, e);
        }
    }

    public ValueTask<bool> IsHealthyAsync(CancellationToken cancellationToken) =>
        ValueTask.FromResult(Volatile.Read(ref _disposed) == 0 && _connection is { IsOpen: true });

    /// <summary>Stops every consumer and closes the connection, as a process exit would: the broker requeues
    /// unacknowledged durable deliveries and deletes this process's exclusive queues.</summary>
    public async ValueTask DisposeAsync()
    {
        QueueConsumer[] consumers;
        lock (_lock)
        {
            if (_disposed != 0)
            {
                return;
            }

            _disposed = 1;
            consumers = [.. _consumers];
        }

        var stopping = new Task[consumers.Length];
        for (var i = 0; i < consumers.Length; i++)
        {
            stopping[i] = consumers[i].DisposeAsync().AsTask();
        }

        await Task.WhenAll(stopping).ConfigureAwait(false);
        if (_connection is { } connection)
        {
            connection.ConnectionShutdownAsync -= OnConnectionShutdownAsync;
            try
            {
                await connection.CloseAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationInterruptedException or IOException)
            {
                // Lost already: closed is what we wanted.
            }

            await connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    internal void Forget(QueueConsumer consumer)
    {
        lock (_lock)
        {
            _consumers.Remove(consumer);
        }
    }

    internal static TrellisException Unavailable(string problem, Exception? inner) =>
        new(ErrorKind.Unavailable, $"RabbitMQ is unavailable: {problem}", inner);

    /// <summary>Publishes a request without waiting for the broker: a refusal comes back as a reply
    /// (<see cref="RequestPublisher"/>). Completes synchronously unless the channel pushes back.</summary>
    private ValueTask<PublishStatus> PublishRequestAsync(PublisherChannel<RequestPublisher> publisher, TransportMessage message, CancellationToken cancellationToken)
    {
        // Runs inside PublishAsync's catch-all, so a synchronous failure still becomes a faulted task.
        try
        {
            var getting = publisher.GetAsync(cancellationToken);
            if (getting.IsCompletedSuccessfully)
            {
                var publishing = getting.Result.State!.PublishAsync(_requestsExchange, message, Wire.Properties(message, persistent: false), cancellationToken);
                if (publishing.IsCompletedSuccessfully)
                {
                    publishing.GetAwaiter().GetResult();
                    return new ValueTask<PublishStatus>(PublishStatus.Routed);
                }

                return AwaitRequestAsync(publishing, message.Topic);
            }

            return PublishRequestSlowlyAsync(getting, message, cancellationToken);
        }
        catch (Exception e) when (e is OperationInterruptedException or IOException)
        {
            throw Unavailable($"publishing to '{message.Topic}' failed: {e.Message}", e);
        }
    }

    private async ValueTask<PublishStatus> PublishRequestSlowlyAsync(
        ValueTask<PublisherChannel<RequestPublisher>.Opened> getting, TransportMessage message, CancellationToken cancellationToken)
    {
        try
        {
            var opened = await getting.ConfigureAwait(false);
            await opened.State!.PublishAsync(_requestsExchange, message, Wire.Properties(message, persistent: false), cancellationToken).ConfigureAwait(false);
            return PublishStatus.Routed;
        }
        catch (Exception e) when (e is OperationInterruptedException or IOException)
        {
            throw Unavailable($"publishing to '{message.Topic}' failed: {e.Message}", e);
        }
    }

    private static async ValueTask<PublishStatus> AwaitRequestAsync(ValueTask publishing, string topic)
    {
        try
        {
            await publishing.ConfigureAwait(false);
            return PublishStatus.Routed;
        }
        catch (Exception e) when (e is OperationInterruptedException or IOException)
        {
            throw Unavailable($"publishing to '{topic}' failed: {e.Message}", e);
        }
    }

    private async ValueTask<PublishStatus> PublishCoreAsync(
        PublisherChannel<object> publisher, string exchange, TransportMessage message, bool mandatory, bool persistent, CancellationToken cancellationToken)
    {
        var properties = Wire.Properties(message, persistent);
        try
        {
            var channel = (await publisher.GetAsync(cancellationToken).ConfigureAwait(false)).Channel;
            await channel.BasicPublishAsync(exchange, message.Topic, mandatory, properties, message.Data.Utf8, cancellationToken).ConfigureAwait(false);
            return PublishStatus.Routed;
        }
        catch (PublishException e)
        {
            // With x-overflow=reject-publish a full queue nacks the publish; a return means no binding matched.
            return e.IsReturn ? PublishStatus.Unroutable : PublishStatus.QueueFull;
        }
        catch (Exception e) when (e is OperationInterruptedException or IOException)
        {
            throw Unavailable($"publishing to '{message.Topic}' failed: {e.Message}", e);
        }
    }

    /// <summary>Runs on every (re)opened request channel: a publisher bound to its sequence numbers, and
    /// the direct reply-to consumer, which must live on the channel that publishes the requests.</summary>
    private async Task<RequestPublisher?> SetUpRequestChannelAsync(IChannel channel, CancellationToken cancellationToken)
    {
        var publisher = new RequestPublisher(channel, _onReply!, _options.ConfirmRequests);
        await channel.BasicConsumeAsync(Wire.DirectReplyTo, autoAck: true, new ReplyConsumer(channel, _onReply!, _logger), cancellationToken)
            .ConfigureAwait(false);
        return publisher;
    }

    /// <summary>Runs on every (re)opened durable-request channel: its direct reply-to consumer. Confirms on
    /// this channel are tracked, so a durable request is routed and held by the broker before the requester
    /// waits for its reply.</summary>
    private async Task<object?> SetUpDurableRequestChannelAsync(IChannel channel, CancellationToken cancellationToken)
    {
        await channel.BasicConsumeAsync(Wire.DirectReplyTo, autoAck: true, new ReplyConsumer(channel, _onReply!, _logger), cancellationToken)
            .ConfigureAwait(false);
        return null;
    }

    private async Task DeclareExchangesAsync(IConnection connection, CancellationToken cancellationToken)
    {
        var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        await using (channel.ConfigureAwait(false))
        {
            foreach (var (name, type) in new[] { (_requestsExchange, ExchangeType.Direct), (_signalsExchange, ExchangeType.Topic), (_durableExchange, ExchangeType.Topic) })
            {
                try
                {
                    // Durable, so they outlive a broker restart along with the durable queues bound to them.
                    await channel.ExchangeDeclareAsync(name, type, durable: true, autoDelete: false, cancellationToken: cancellationToken)
                        .ConfigureAwait(false);
                }
                catch (OperationInterruptedException e) when (e.ShutdownReason?.ReplyCode == Constants.PreconditionFailed)
                {
                    throw new TrellisException(
                        ErrorKind.FailedPrecondition,
                        $"RabbitMQ exchange '{name}' exists with other settings than a durable {type} exchange; delete it or choose another {RabbitMqOptions.Section}:Prefix",
                        e);
                }
            }

            await channel.CloseAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task<IChannel> OpenConsumerChannelAsync(IConnection connection, ushort prefetch, CancellationToken cancellationToken)
    {
        var channel = await connection.CreateChannelAsync(Plain, cancellationToken).ConfigureAwait(false);
        try
        {
            await channel.BasicQosAsync(0, prefetch, global: false, cancellationToken).ConfigureAwait(false);
            return channel;
        }
        catch
        {
            await channel.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Declares the spec's queue; returns the channel to go on with, which is a new one when the
    /// broker closed the first because the queue exists with other arguments.</summary>
    private async Task<(IChannel Channel, string Name)> DeclareQueueAsync(
        IConnection connection, IChannel channel, QueueSpec spec, ushort prefetch, CancellationToken cancellationToken)
    {
        // reject-publish: a full queue refuses (nacks) new messages instead of dropping its oldest, so the
        // publisher learns of it (503) and nothing it was told is accepted gets lost.
        var arguments = new Dictionary<string, object?>(2, StringComparer.Ordinal)
        {
            ["x-max-length"] = spec.MaxLength,
            ["x-overflow"] = "reject-publish",
        };

        if (spec.Group is null)
        {
            var declared = await channel.QueueDeclareAsync("", durable: false, exclusive: true, autoDelete: true, arguments, cancellationToken: cancellationToken)
                .ConfigureAwait(false);
            return (channel, declared.QueueName);
        }

        var name = Topology.QueueName(_options.Prefix, spec);
        var durable = spec.Exchange == ExchangeKind.Durable;
        try
        {
            await channel.QueueDeclareAsync(name, durable, exclusive: false, autoDelete: !durable, arguments, cancellationToken: cancellationToken)
                .ConfigureAwait(false);
            return (channel, name);
        }
        catch (OperationInterruptedException e) when (e.ShutdownReason?.ReplyCode == Constants.PreconditionFailed)
        {
            // Another member declared it with another length limit. The first declaration wins, as in the
            // in-process broker; join the queue as it is.
            LogQueueMismatch(_logger, name, spec.MaxLength, e.ShutdownReason?.ReplyText ?? "");
            await DisposeQuietlyAsync(channel).ConfigureAwait(false);
            var fresh = await OpenConsumerChannelAsync(connection, prefetch, cancellationToken).ConfigureAwait(false);
            try
            {
                await fresh.QueueDeclarePassiveAsync(name, cancellationToken).ConfigureAwait(false);
                return (fresh, name);
            }
            catch
            {
                await DisposeQuietlyAsync(fresh).ConfigureAwait(false);
                throw;
            }
        }
    }

    private string ExchangeName(ExchangeKind kind) => kind switch
    {
        ExchangeKind.Requests => _requestsExchange,
        ExchangeKind.Signals => _signalsExchange,
        ExchangeKind.Durable => _durableExchange,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown exchange"),
    };

    private IConnection Running()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return _connection ?? throw new InvalidOperationException("The RabbitMQ transport is not started: call StartAsync first");
    }

    private static async ValueTask DisposeQuietlyAsync(IChannel? channel)
    {
        if (channel is null)
        {
            return;
        }

        try
        {
            await channel.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationInterruptedException or IOException or ObjectDisposedException)
        {
            // Already closed by the broker.
        }
    }

    /// <summary>AMQP soft errors: the broker closed one channel over something it refused, the connection stays.</summary>
    private static bool IsChannelError(OperationInterruptedException e) =>
        e.ShutdownReason is { Initiator: ShutdownInitiator.Peer, ReplyCode: Constants.AccessRefused or Constants.NotFound or Constants.ResourceLocked or Constants.PreconditionFailed };

    private static Exception Innermost(Exception e)
    {
        while (e.InnerException is not null)
        {
            e = e.InnerException;
        }

        return e;
    }

    private Task OnConnectionShutdownAsync(object sender, ShutdownEventArgs e)
    {
        LogConnectionLost(_logger, e.Initiator.ToString(), e.ReplyCode, e.ReplyText);
        return Task.CompletedTask;
    }

    private Task OnRecoverySucceededAsync(object sender, AsyncEventArgs e)
    {
        LogRecovered(_logger);
        return Task.CompletedTask;
    }

    private Task OnRecoveryErrorAsync(object sender, ConnectionRecoveryErrorEventArgs e)
    {
        LogRecoveryFailed(_logger, e.Exception.Message);
        return Task.CompletedTask;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Connected to RabbitMQ at {Uri} (topology prefix '{Prefix}')")]
    private static partial void LogConnected(ILogger logger, string uri, string prefix);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Consuming from {Queue}, bound to {Exchange} with key '{BindingKey}', prefetch {Prefetch}")]
    private static partial void LogConsuming(ILogger logger, string queue, string exchange, string bindingKey, int prefetch);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Declared {Queue}, bound to {Exchange}")]
    private static partial void LogDeclared(ILogger logger, string queue, string exchange);

    [LoggerMessage(Level = LogLevel.Debug, Message = "The shared queue for {Queue} was deleted while joining it; declaring it again")]
    private static partial void LogRedeclaring(ILogger logger, string queue);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Queue {Queue} exists with other settings than x-max-length={MaxLength} ({Reason}); joining it as it is")]
    private static partial void LogQueueMismatch(ILogger logger, string queue, int maxLength, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "RabbitMQ connection lost ({Initiator}, {Code} {Reason}); recovering automatically")]
    private static partial void LogConnectionLost(ILogger logger, string initiator, int code, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "RabbitMQ connection recovered with its topology")]
    private static partial void LogRecovered(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "RabbitMQ connection recovery attempt failed: {Reason}")]
    private static partial void LogRecoveryFailed(ILogger logger, string reason);
}
