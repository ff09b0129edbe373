using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Trellis.Core.Errors;
using Trellis.Flows.Broker;
using Trellis.Grains.Flows.Internal;

namespace Trellis.Grains.Flows;

/// <summary>Consumes the <c>fbp</c> discovery queue on a silo and records each announcement in its participant's grain.
/// It consumes exclusively, so one silo of the cluster holds the queue; the others retry every
/// <see cref="FlowsOptions.DiscoveryRetry"/> and take over when the holder goes. A bad message is acknowledged and
/// logged once, naming the problem.</summary>
public sealed partial class FlowDiscoveryService(
    IFlowBroker broker,
    IGrainFactory grains,
    FlowsOptions options,
    TimeProvider time,
    ILogger<FlowDiscoveryService> logger) : BackgroundService
{
    /// <summary>The queue participants announce themselves on (msgflo's <c>fbp</c>).</summary>
    public const string Queue = "fbp";

    /// <summary>True while this silo holds the <c>fbp</c> queue.</summary>
    public bool Holding { get; private set; }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var waiting = false;
        while (!stoppingToken.IsCancellationRequested)
        {
            IAsyncDisposable? consumer = null;
            try
            {
                await broker.StartAsync(stoppingToken);
                await broker.DeclareQueueAsync(Queue, stoppingToken);
                consumer = await broker.ConsumeAsync(Queue, new FlowConsumerOptions(Prefetch: 16, Exclusive: true), HandleAsync, stoppingToken);
                Holding = true;
                LogHolding(logger, Queue);
                await Task.Delay(Timeout.InfiniteTimeSpan, time, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (TrellisException e) when (e.Kind == ErrorKind.FailedPrecondition)
            {
                if (!waiting)
                {
                    LogHeldElsewhere(logger, Queue);
                    waiting = true;
                }
            }
            catch (Exception e)
            {
                LogConsumeFailed(logger, Queue, e.Message);
            }
            finally
            {
                Holding = false;
                if (consumer is not null)
                {
                    await consumer.DisposeAsync();
                }
            }

            try
            {
                await Task.Delay(options.DiscoveryRetry, time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    private async ValueTask HandleAsync(FlowDelivery delivery, CancellationToken cancellationToken)
    {
        Trellis.Flows.Discovery.ParticipantDefinition definition;
        try
        {
            definition = Discovery.ParseMessage(delivery.Body.Span, options.ParticipantTimeout);
        }
        catch (TrellisException e)
        {
            LogBadMessage(logger, Queue, e.Message);
            await delivery.AckAsync();
            return;
        }

        try
        {
            await grains.GetGrain<IFlowParticipantGrain>(definition.Id)
                .Announce(definition.Role, definition.Payload.ToJsonString(), definition.Heartbeat)
                .WaitAsync(cancellationToken);
            await delivery.AckAsync();
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            LogRecordFailed(logger, definition.Id, e.Message);
            await delivery.NackAsync(requeue: true);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Consuming the discovery queue {Queue}")]
    private static partial void LogHolding(ILogger logger, string queue);

    [LoggerMessage(Level = LogLevel.Information, Message = "The discovery queue {Queue} is consumed by another silo; retrying until it is free")]
    private static partial void LogHeldElsewhere(ILogger logger, string queue);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not consume the discovery queue {Queue}: {Problem}; retrying")]
    private static partial void LogConsumeFailed(ILogger logger, string queue, string problem);

    [LoggerMessage(Level = LogLevel.Error, Message = "Dropped a bad message from {Queue}: {Problem}")]
    private static partial void LogBadMessage(ILogger logger, string queue, string problem);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not record the announcement of participant {Id}: {Problem}; it is delivered again")]
    private static partial void LogRecordFailed(ILogger logger, string id, string problem);
}
