using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using RabbitMQ.Client.Exceptions;
using Trellis.Core.Errors;
using Trellis.Flows.Broker;
using Trellis.Transport.RabbitMq.Internal;

namespace Trellis.Transport.RabbitMq.Flows;

/// <summary>msgflo's topology on a RabbitMQ server, declared exactly as msgflo-nodejs declares it (queues, exchanges,
/// arguments and durability), so that msgflo participants and Trellis share every queue and exchange.</summary>
/// <remarks>
/// One connection with automatic recovery, which brings back the consumers and taps (their channels, prefetch,
/// server-named queues and bindings) after the connection is lost. Declarations, bindings and existence checks go
/// through one administration channel; a channel error (404, 406) closes only that channel, which is opened again for
/// the next call. Publishes go out on one channel without confirms, as msgflo publishes, so a publish costs no round
/// trip; the first publish to an exchange (or send to a queue) checks that it exists, so that a missing one is
/// NotFound rather than a silently closed channel or a dropped message, and the name is remembered until the broker
/// says otherwise (a closed publishing channel, a returned message). Each consumer has a channel of its own, with its
/// prefetch and its deliveries acknowledged by tag.
/// </remarks>
public sealed partial class RabbitMqFlowBroker : IFlowBroker
{
    private static readonly CreateChannelOptions Plain = new(
        publisherConfirmationsEnabled: false, publisherConfirmationTrackingEnabled: false, outstandingPublisherConfirmationsRateLimiter: null);

    private readonly RabbitMqOptions _options;
    private readonly ILogger _logger;
    private readonly ILogger _consumerLogger;
    private readonly SemaphoreSlim _starting = new(1, 1);
    private readonly SemaphoreSlim _admin = new(1, 1);
    private readonly ConcurrentDictionary<string, byte> _knownExchanges = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte> _knownQueues = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private readonly HashSet<IAsyncDisposable> _subscriptions = [];
    private IConnection? _connection;
    private IChannel? _adminChannel;
    private PublisherChannel<object>? _publisher;
    private int _disposed;

    public RabbitMqFlowBroker(RabbitMqOptions options, ILoggerFactory? loggers = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Validate();
        _logger = loggers?.CreateLogger<RabbitMqFlowBroker>() ?? (ILogger)NullLogger.Instance;
        _consumerLogger = loggers?.CreateLogger("Trellis.Transport.RabbitMq.Flows.Consumer") ?? NullLogger.Instance;
    }

    public string Name => "rabbitmq";

    /// <summary>The broker connection, once started (tests watch its events).</summary>
    internal IConnection? Connection => _connection;

    public async ValueTask StartAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (Volatile.Read(ref _connection) is not null)
        {
            return;
        }

        await _starting.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_connection is not null)
            {
                return;
            }

            var factory = new ConnectionFactory
            {
                Uri = _options.Uri!,
                ClientProvidedName = _options.ConnectionName + " flows",
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
                throw RabbitMqTransport.Unavailable($"cannot connect to {RabbitMqOptions.Redacted(_options.Uri!)}: {Innermost(e).Message}", e);
            }

            try
            {
                connection.ConnectionShutdownAsync += OnConnectionShutdownAsync;
                connection.RecoverySucceededAsync += OnRecoverySucceededAsync;
                connection.ConnectionRecoveryErrorAsync += OnRecoveryErrorAsync;
                _publisher = await PublisherChannel<object>.OpenAsync(connection, Plain, SetUpPublisherAsync, "flow publishing", _logger, cancellationToken)
                    .ConfigureAwait(false);
                Volatile.Write(ref _connection, connection);
                LogConnected(_logger, RabbitMqOptions.Redacted(_options.Uri!));
            }
            catch
            {
                await connection.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }
        finally
        {
            _starting.Release();
        }
    }

    public async ValueTask DeclareInportAsync(string queue, FlowPortOptions options, CancellationToken cancellationToken)
    {
        FlowNames.ValidateDeclared(queue, "queue");
        ArgumentNullException.ThrowIfNull(options);

        // msgflo-nodejs createQueue('inqueue'): assertQueue(q, {deadLetterExchange: 'dead-'+q}), assertExchange(q,
        // 'fanout'), bindQueue(q, q, ''); persistent: false makes both non-durable and auto-deleted.
        var durable = options.Persistent;
        var arguments = new Dictionary<string, object?>(1, StringComparer.Ordinal) { ["x-dead-letter-exchange"] = FlowNames.DeadLetterExchange(queue) };
        await AdminAsync($"cannot declare the inport queue '{queue}'", async (channel, token) =>
        {
            await channel.QueueDeclareAsync(queue, durable, exclusive: false, autoDelete: !durable, arguments, cancellationToken: token).ConfigureAwait(false);
            await channel.ExchangeDeclareAsync(queue, ExchangeType.Fanout, durable, autoDelete: !durable, cancellationToken: token).ConfigureAwait(false);
            await channel.QueueBindAsync(queue, queue, "", cancellationToken: token).ConfigureAwait(false);
            return true;
        }, cancellationToken).ConfigureAwait(false);
        _knownQueues.TryAdd(queue, 0);
        _knownExchanges.TryAdd(queue, 0);
        LogDeclaredInport(_logger, queue, durable);
    }

    public async ValueTask DeclareOutportAsync(string exchange, FlowPortOptions options, CancellationToken cancellationToken)
    {
        FlowNames.ValidateDeclared(exchange, "exchange");
        ArgumentNullException.ThrowIfNull(options);
        var durable = options.Persistent;
        await AdminAsync($"cannot declare the outport exchange '{exchange}'", async (channel, token) =>
        {
            await channel.ExchangeDeclareAsync(exchange, ExchangeType.Fanout, durable, autoDelete: !durable, cancellationToken: token).ConfigureAwait(false);
            return true;
        }, cancellationToken).ConfigureAwait(false);
        _knownExchanges.TryAdd(exchange, 0);
    }

    public async ValueTask DeclareQueueAsync(string queue, CancellationToken cancellationToken)
    {
        FlowNames.ValidateDeclared(queue, "queue");

        // assertQueue(name) with amqplib's defaults: durable, not exclusive, not auto-delete, no arguments.
        await AdminAsync($"cannot declare the queue '{queue}'", async (channel, token) =>
        {
            await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false, arguments: null, cancellationToken: token).ConfigureAwait(false);
            return true;
        }, cancellationToken).ConfigureAwait(false);
        _knownQueues.TryAdd(queue, 0);
    }

    public async ValueTask<bool> QueueExistsAsync(string queue, CancellationToken cancellationToken)
    {
        FlowNames.Validate(queue, "queue");
        try
        {
            await AdminAsync($"queue '{queue}'", async (channel, token) =>
            {
                await channel.QueueDeclarePassiveAsync(queue, token).ConfigureAwait(false);
                return true;
            }, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (TrellisException e) when (e.Kind == ErrorKind.NotFound)
        {
            _knownQueues.TryRemove(queue, out _);
            return false;
        }
    }

    public async ValueTask<bool> ExchangeExistsAsync(string exchange, CancellationToken cancellationToken)
    {
        FlowNames.Validate(exchange, "exchange");
        try
        {
            await AdminAsync($"exchange '{exchange}'", async (channel, token) =>
            {
                await channel.ExchangeDeclarePassiveAsync(exchange, token).ConfigureAwait(false);
                return true;
            }, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (TrellisException e) when (e.Kind == ErrorKind.NotFound)
        {
            _knownExchanges.TryRemove(exchange, out _);
            return false;
        }
    }

    public async ValueTask AddBindingAsync(FlowBinding binding, CancellationToken cancellationToken)
    {
        FlowNames.Validate(binding);
        if (binding.Kind == FlowBindingKind.PubSub)
        {
            await AdminAsync($"cannot bind queue '{binding.Target}' to exchange '{binding.Source}'", async (channel, token) =>
            {
                await channel.QueueBindAsync(binding.Target!, binding.Source!, "", cancellationToken: token).ConfigureAwait(false);
                return true;
            }, cancellationToken).ConfigureAwait(false);
            LogBound(_logger, binding.Source!, binding.Target!);
            return;
        }

        // msgflo-nodejs addBinding('roundrobin'): a direct exchange out-<src> (amqplib defaults: durable) bound to
        // src feeds tgt; a fanout dead-<tgt> (durable), the target's x-dead-letter-exchange, feeds the deadletter queue.
        if (binding.Source is not null && binding.Target is not null)
        {
            var direct = FlowNames.RoundRobinExchange(binding.Source);
            await AdminAsync($"cannot bind queue '{binding.Target}' round robin to exchange '{binding.Source}'", async (channel, token) =>
            {
                await channel.ExchangeDeclareAsync(direct, ExchangeType.Direct, durable: true, autoDelete: false, cancellationToken: token).ConfigureAwait(false);
                await channel.ExchangeBindAsync(direct, binding.Source, "", cancellationToken: token).ConfigureAwait(false);
                await channel.QueueBindAsync(binding.Target, direct, "", cancellationToken: token).ConfigureAwait(false);
                return true;
            }, cancellationToken).ConfigureAwait(false);
            LogBound(_logger, direct, binding.Target);
        }

        if (binding.DeadLetter is not null && binding.Target is not null)
        {
            var dead = FlowNames.DeadLetterExchange(binding.Target);
            await AdminAsync($"cannot bind the deadletter queue '{binding.DeadLetter}' to exchange '{dead}'", async (channel, token) =>
            {
                await channel.ExchangeDeclareAsync(dead, ExchangeType.Fanout, durable: true, autoDelete: false, cancellationToken: token).ConfigureAwait(false);
                await channel.QueueBindAsync(binding.DeadLetter, dead, "", cancellationToken: token).ConfigureAwait(false);
                return true;
            }, cancellationToken).ConfigureAwait(false);
            LogBound(_logger, dead, binding.DeadLetter);
        }
    }

    public async ValueTask RemoveBindingAsync(FlowBinding binding, CancellationToken cancellationToken)
    {
        FlowNames.Validate(binding);
        if (binding.Kind == FlowBindingKind.PubSub)
        {
            await UnbindAsync(binding.Source!, binding.Target!, cancellationToken).ConfigureAwait(false);
            return;
        }

        // msgflo cannot remove a round-robin binding; we take the target off out-<src> (which stays bound to src for
        // other targets) and the deadletter queue off dead-<tgt>.
        if (binding.Source is not null && binding.Target is not null)
        {
            await UnbindAsync(FlowNames.RoundRobinExchange(binding.Source), binding.Target, cancellationToken).ConfigureAwait(false);
        }

        if (binding.DeadLetter is not null && binding.Target is not null)
        {
            await UnbindAsync(FlowNames.DeadLetterExchange(binding.Target), binding.DeadLetter, cancellationToken).ConfigureAwait(false);
        }
    }

    public ValueTask SendToQueueAsync(string queue, ReadOnlyMemory<byte> body, string? traceParent, CancellationToken cancellationToken)
    {
        FlowNames.Validate(queue, "queue");
        return _knownQueues.ContainsKey(queue)
            ? PublishCoreAsync("", queue, mandatory: true, body, traceParent, cancellationToken)
            : SendCheckedAsync(queue, body, traceParent, cancellationToken);
    }

    public ValueTask PublishAsync(string exchange, ReadOnlyMemory<byte> body, string? traceParent, CancellationToken cancellationToken)
    {
        FlowNames.Validate(exchange, "exchange");
        return _knownExchanges.ContainsKey(exchange)
            ? PublishCoreAsync(exchange, "", mandatory: false, body, traceParent, cancellationToken)
            : PublishCheckedAsync(exchange, body, traceParent, cancellationToken);
    }

    public async ValueTask<IAsyncDisposable> ConsumeAsync(string queue, FlowConsumerOptions options, FlowDeliveryHandler handler, CancellationToken cancellationToken)
    {
        FlowNames.Validate(queue, "queue");
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(handler);
        if (options.Prefetch < 1)
        {
            throw TrellisException.Invalid($"The prefetch of a consumer of '{queue}' must be at least 1 (was {options.Prefetch})");
        }

        var connection = Running();
        var prefetch = (ushort)Math.Min(options.Prefetch, _options.MaxPrefetch);
        IChannel? channel = null;
        try
        {
            channel = await connection.CreateChannelAsync(Plain, cancellationToken).ConfigureAwait(false);
            await channel.BasicQosAsync(0, prefetch, global: false, cancellationToken).ConfigureAwait(false);
            var consumer = new FlowQueueConsumer(channel, this, queue, handler, _consumerLogger);
            Track(consumer);
            try
            {
                // An exclusive consumer is the broker's own guard: it refuses the consume (403 ACCESS_REFUSED, closing
                // this channel only) while another consumer holds the queue, and refuses others while it holds it.
                await channel.BasicConsumeAsync(queue, autoAck: false, consumerTag: "", noLocal: false, options.Exclusive, arguments: null, consumer, cancellationToken)
                    .ConfigureAwait(false);
            }
            catch
            {
                Forget(consumer);
                throw;
            }

            LogConsuming(_logger, queue, prefetch, options.Exclusive);
            return consumer;
        }
        catch (OperationInterruptedException e) when (e.ShutdownReason is { Initiator: ShutdownInitiator.Peer, ReplyCode: Constants.AccessRefused })
        {
            await DisposeQuietlyAsync(channel).ConfigureAwait(false);
            throw new TrellisException(
                ErrorKind.FailedPrecondition,
                options.Exclusive
                    ? $"Queue '{queue}' cannot be consumed exclusively while another consumer holds it; try again after it stops (RabbitMQ: {e.ShutdownReason.ReplyText})"
                    : $"Queue '{queue}' is held by an exclusive consumer; try again after it stops (RabbitMQ: {e.ShutdownReason.ReplyText})",
                e);
        }
        catch (Exception e) when (e is OperationInterruptedException or IOException)
        {
            await DisposeQuietlyAsync(channel).ConfigureAwait(false);
            throw Map(e, $"cannot consume from queue '{queue}'");
        }
        catch
        {
            await DisposeQuietlyAsync(channel).ConfigureAwait(false);
            throw;
        }
    }

    public async ValueTask<IAsyncDisposable> TapAsync(string exchange, FlowTapHandler handler, CancellationToken cancellationToken)
    {
        FlowNames.Validate(exchange, "exchange");
        ArgumentNullException.ThrowIfNull(handler);
        var connection = Running();
        IChannel? channel = null;
        try
        {
            // As msgflo's broker subscribes to data: an exclusive, auto-deleted, server-named queue bound to the exchange.
            channel = await connection.CreateChannelAsync(Plain, cancellationToken).ConfigureAwait(false);
            var declared = await channel.QueueDeclareAsync("", durable: false, exclusive: true, autoDelete: true, arguments: null, cancellationToken: cancellationToken)
                .ConfigureAwait(false);
            await channel.QueueBindAsync(declared.QueueName, exchange, "", cancellationToken: cancellationToken).ConfigureAwait(false);
            var tap = new FlowTapConsumer(channel, this, exchange, handler, _consumerLogger);
            Track(tap);
            try
            {
                await channel.BasicConsumeAsync(declared.QueueName, autoAck: true, tap, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                Forget(tap);
                throw;
            }

            return tap;
        }
        catch (Exception e) when (e is OperationInterruptedException or IOException)
        {
            await DisposeQuietlyAsync(channel).ConfigureAwait(false);
            throw Map(e, $"cannot tap exchange '{exchange}'");
        }
        catch
        {
            await DisposeQuietlyAsync(channel).ConfigureAwait(false);
            throw;
        }
    }

    public ValueTask<bool> IsHealthyAsync(CancellationToken cancellationToken) =>
        ValueTask.FromResult(Volatile.Read(ref _disposed) == 0 && _connection is { IsOpen: true });

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        IAsyncDisposable[] subscriptions;
        lock (_lock)
        {
            subscriptions = [.. _subscriptions];
        }

        foreach (var subscription in subscriptions)
        {
            await subscription.DisposeAsync().ConfigureAwait(false);
        }

        var connection = _connection;
        if (connection is not null)
        {
            try
            {
                await connection.CloseAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationInterruptedException or IOException or ObjectDisposedException)
            {
                // Already gone.
            }

            await connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    internal void Forget(IAsyncDisposable subscription)
    {
        lock (_lock)
        {
            _subscriptions.Remove(subscription);
        }
    }

    private void Track(IAsyncDisposable subscription)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed != 0, this);
            _subscriptions.Add(subscription);
        }
    }

    private async ValueTask PublishCheckedAsync(string exchange, ReadOnlyMemory<byte> body, string? traceParent, CancellationToken cancellationToken)
    {
        // A publish to a missing exchange would close the publishing channel later, and the message would be lost
        // without a word: check once, then publish without a round trip.
        if (!await ExchangeExistsAsync(exchange, cancellationToken).ConfigureAwait(false))
        {
            throw new TrellisException(ErrorKind.NotFound, $"Exchange '{exchange}' not found");
        }

        _knownExchanges.TryAdd(exchange, 0);
        await PublishCoreAsync(exchange, "", mandatory: false, body, traceParent, cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask SendCheckedAsync(string queue, ReadOnlyMemory<byte> body, string? traceParent, CancellationToken cancellationToken)
    {
        if (!await QueueExistsAsync(queue, cancellationToken).ConfigureAwait(false))
        {
            throw new TrellisException(ErrorKind.NotFound, $"Queue '{queue}' not found");
        }

        _knownQueues.TryAdd(queue, 0);
        await PublishCoreAsync("", queue, mandatory: true, body, traceParent, cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask PublishCoreAsync(string exchange, string routingKey, bool mandatory, ReadOnlyMemory<byte> body, string? traceParent, CancellationToken cancellationToken)
    {
        var connection = Running();
        var publisher = _publisher!;
        if (!connection.IsOpen)
        {
            // While the connection recovers, a publish would be written nowhere and lost without a word.
            throw RabbitMqTransport.Unavailable($"cannot publish to {(exchange.Length == 0 ? $"queue '{routingKey}'" : $"exchange '{exchange}'")}: the connection is lost and recovering", null);
        }

        // msgflo publishes bare bodies (no content type, transient); a trace context rides in a header.
        var properties = new BasicProperties();
        if (traceParent is not null)
        {
            properties.Headers = new Dictionary<string, object?>(1, StringComparer.Ordinal) { [Wire.TraceParentHeader] = traceParent };
        }

        var started = RabbitMqMetrics.Start();
        try
        {
            var opened = await publisher.GetAsync(cancellationToken).ConfigureAwait(false);
            await opened.Channel.BasicPublishAsync(exchange, routingKey, mandatory, properties, body, cancellationToken).ConfigureAwait(false);
            RabbitMqMetrics.Published(exchange, started);
        }
        catch (Exception e) when (e is OperationInterruptedException or IOException or ObjectDisposedException)
        {
            RabbitMqMetrics.Published(exchange, started, e.GetType().Name);
            throw RabbitMqTransport.Unavailable($"cannot publish to {(exchange.Length == 0 ? $"queue '{routingKey}'" : $"exchange '{exchange}'")}: {e.Message}", e);
        }
    }

    private Task<object?> SetUpPublisherAsync(IChannel channel, CancellationToken cancellationToken)
    {
        channel.BasicReturnAsync += OnReturnAsync;
        channel.ChannelShutdownAsync += OnPublisherShutdownAsync;
        return Task.FromResult<object?>(null);
    }

    private Task OnReturnAsync(object sender, BasicReturnEventArgs e)
    {
        // A send to a queue that is gone: check it again before the next send.
        if (e.Exchange.Length == 0)
        {
            _knownQueues.TryRemove(e.RoutingKey, out _);
        }

        LogReturned(_logger, e.RoutingKey, e.ReplyText);
        return Task.CompletedTask;
    }

    private Task OnPublisherShutdownAsync(object sender, ShutdownEventArgs e)
    {
        // The broker closes a channel that published to a missing exchange (404): forget what we believed exists.
        if (e.ReplyCode == Constants.NotFound)
        {
            _knownExchanges.Clear();
        }

        return Task.CompletedTask;
    }

    private async ValueTask UnbindAsync(string exchange, string queue, CancellationToken cancellationToken)
    {
        try
        {
            await AdminAsync($"cannot unbind queue '{queue}' from exchange '{exchange}'", async (channel, token) =>
            {
                await channel.QueueUnbindAsync(queue, exchange, "", cancellationToken: token).ConfigureAwait(false);
                return true;
            }, cancellationToken).ConfigureAwait(false);
            LogUnbound(_logger, exchange, queue);
        }
        catch (TrellisException e) when (e.Kind == ErrorKind.NotFound)
        {
            // No queue or no exchange: no binding either, which is what was asked for.
        }
    }

    /// <summary>Runs one administration step on the shared channel, opening it again if the broker closed it.</summary>
    private async Task<T> AdminAsync<T>(string what, Func<IChannel, CancellationToken, Task<T>> step, CancellationToken cancellationToken)
    {
        var connection = Running();
        await _admin.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var channel = _adminChannel;
            if (channel is null || !channel.IsOpen)
            {
                await DisposeQuietlyAsync(channel).ConfigureAwait(false);
                _adminChannel = null;
                channel = _adminChannel = await connection.CreateChannelAsync(Plain, cancellationToken).ConfigureAwait(false);
            }

            return await step(channel, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationInterruptedException or IOException)
        {
            throw Map(e, what);
        }
        catch (OperationCanceledException)
        {
            // The broker may still answer the abandoned call: the next step gets a channel of its own.
            await DisposeQuietlyAsync(_adminChannel).ConfigureAwait(false);
            _adminChannel = null;
            throw;
        }
        finally
        {
            _admin.Release();
        }
    }

    /// <summary>A refusal of the broker as a <see cref="TrellisException"/>: 404 NotFound, 403/405/406 FailedPrecondition
    /// (the connection stays; only the channel closed), anything else Unavailable.</summary>
    private static TrellisException Map(Exception e, string what)
    {
        if (e is OperationInterruptedException { ShutdownReason: { Initiator: ShutdownInitiator.Peer } reason })
        {
            switch (reason.ReplyCode)
            {
                case Constants.NotFound:
                    return new TrellisException(ErrorKind.NotFound, $"{Capitalised(what)}: {reason.ReplyText}", e);
                case Constants.PreconditionFailed or Constants.AccessRefused or Constants.ResourceLocked:
                    return new TrellisException(ErrorKind.FailedPrecondition, $"{Capitalised(what)}: {reason.ReplyText}", e);
            }
        }

        return RabbitMqTransport.Unavailable($"{what}: {e.Message}", e);

        static string Capitalised(string text) => text.Length == 0 ? text : char.ToUpperInvariant(text[0]) + text[1..];
    }

    private IConnection Running()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return Volatile.Read(ref _connection) ?? throw NotStarted();
    }

    private static InvalidOperationException NotStarted() => new("The RabbitMQ flow broker is not started: call StartAsync first");

    internal static async ValueTask DisposeQuietlyAsync(IChannel? channel)
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
        if (Volatile.Read(ref _disposed) == 0)
        {
            LogConnectionLost(_logger, e.Initiator.ToString(), e.ReplyCode, e.ReplyText);
        }

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

    [LoggerMessage(Level = LogLevel.Information, Message = "Flow broker connected to RabbitMQ at {Uri}")]
    private static partial void LogConnected(ILogger logger, string uri);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Declared inport {Queue} (durable {Durable})")]
    private static partial void LogDeclaredInport(ILogger logger, string queue, bool durable);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Bound {Target} to {Source}")]
    private static partial void LogBound(ILogger logger, string source, string target);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Unbound {Target} from {Source}")]
    private static partial void LogUnbound(ILogger logger, string source, string target);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Consuming from {Queue}, prefetch {Prefetch}, exclusive {Exclusive}")]
    private static partial void LogConsuming(ILogger logger, string queue, int prefetch, bool exclusive);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A message sent to queue {Queue} was returned ({Reason}): the queue is gone")]
    private static partial void LogReturned(ILogger logger, string queue, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Flow broker lost its RabbitMQ connection ({Initiator}, {Code} {Reason}); recovering automatically")]
    private static partial void LogConnectionLost(ILogger logger, string initiator, int code, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Flow broker's RabbitMQ connection recovered with its consumers")]
    private static partial void LogRecovered(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Flow broker's RabbitMQ connection recovery attempt failed: {Reason}")]
    private static partial void LogRecoveryFailed(ILogger logger, string reason);
}
