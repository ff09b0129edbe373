using System.Diagnostics;
using System.Diagnostics.Metrics;
using Trellis.Core.Diagnostics;
using Trellis.Core.Transport;

namespace Trellis.Transport.RabbitMq.Internal;

/// <summary>The OpenTelemetry messaging metrics of RabbitMQ clients (https://opentelemetry.io/docs/specs/semconv/messaging/messaging-metrics/),
/// on the <c>Trellis</c> meter: publishes and settlements timed, messages sent and consumed counted, by operation and
/// destination (the exchange published to, or the queue consumed from).</summary>
/// <remarks>Each call is a flag check while nothing listens: a timestamp is taken only while the duration histogram is
/// enabled, and tags go in a <see cref="TagList"/> (a struct).</remarks>
internal static class RabbitMqMetrics
{
    public const string System = "rabbitmq";

    /// <summary>What the default exchange (replies, sends to a queue by name) is called in <c>messaging.destination.name</c>.</summary>
    public const string DefaultExchange = "amq.default";

    public const string Publish = "publish";
    public const string Deliver = "deliver";
    public const string Ack = "ack";
    public const string Nack = "nack";

    private const string SystemKey = "messaging.system";
    private const string OperationNameKey = "messaging.operation.name";
    private const string OperationTypeKey = "messaging.operation.type";
    private const string DestinationKey = "messaging.destination.name";
    private const string ErrorTypeKey = "error.type";

    public static readonly Histogram<double> OperationDuration = TrellisTelemetry.Meter.CreateHistogram<double>(
        "messaging.client.operation.duration", "s", "Duration of messaging operations initiated by a producer or consumer client",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10] });

    /// <summary>Messages sent and consumed, counted here and reported when the meter is collected: an increment per
    /// message instead of a measurement whose four tags the SDK would look up each time.</summary>
    private static readonly MessageCounts Sent = new(Publish, "send");
    private static readonly MessageCounts Delivered = new(Deliver, "process");

    public static readonly ObservableCounter<long> SentMessages = TrellisTelemetry.Meter.CreateObservableCounter(
        "messaging.client.sent.messages", Sent.Observe, "{message}", "Number of messages producer attempted to send to the broker");

    public static readonly ObservableCounter<long> ConsumedMessages = TrellisTelemetry.Meter.CreateObservableCounter(
        "messaging.client.consumed.messages", Delivered.Observe, "{message}", "Number of messages that were delivered to the application");

    /// <summary>A timestamp while operations are timed, else 0.</summary>
    public static long Start() => OperationDuration.Enabled ? Stopwatch.GetTimestamp() : 0;

    /// <summary>Records a publish to <paramref name="exchange"/> that started at <paramref name="started"/>; <paramref name="error"/>
    /// names what went wrong when it failed.</summary>
    public static void Published(string exchange, long started, string? error = null)
    {
        if (started == 0 && !SentMessages.Enabled)
        {
            return;
        }

        var destination = exchange.Length == 0 ? DefaultExchange : exchange;
        if (SentMessages.Enabled)
        {
            Sent.Add(destination, error);
        }

        if (started != 0)
        {
            OperationDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, Tags(Publish, "send", destination, error));
        }
    }

    /// <summary>Records <paramref name="publishing"/> once it completes; returns it as it is when nothing listens.</summary>
    public static ValueTask<PublishStatus> Track(ValueTask<PublishStatus> publishing, string exchange, long started)
    {
        if (started == 0 && !SentMessages.Enabled)
        {
            return publishing;
        }

        if (publishing.IsCompletedSuccessfully)
        {
            var status = publishing.Result;
            Published(exchange, started, Error(status));
            return new ValueTask<PublishStatus>(status);
        }

        return TrackAsync(publishing, exchange, started);
    }

    private static async ValueTask<PublishStatus> TrackAsync(ValueTask<PublishStatus> publishing, string exchange, long started)
    {
        try
        {
            var status = await publishing.ConfigureAwait(false);
            Published(exchange, started, Error(status));
            return status;
        }
        catch (Exception e)
        {
            Published(exchange, started, e.GetType().Name);
            throw;
        }
    }

    private static string? Error(PublishStatus status) => status switch
    {
        PublishStatus.Routed => null,
        PublishStatus.Unroutable => "unroutable",
        PublishStatus.QueueFull => "queue_full",
        _ => "other",
    };

    /// <summary>Counts a message the broker delivered from <paramref name="queue"/>.</summary>
    public static void Consumed(string queue)
    {
        if (ConsumedMessages.Enabled)
        {
            Delivered.Add(queue, error: null);
        }
    }

    /// <summary>Records an ack or nack on <paramref name="queue"/> that started at <paramref name="started"/>.</summary>
    public static void Settled(bool ack, string queue, long started, string? error = null)
    {
        if (started != 0)
        {
            OperationDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, Tags(ack ? Ack : Nack, "settle", queue, error));
        }
    }

    internal static TagList Tags(string operation, string type, string destination, string? error)
    {
        var tags = new TagList
        {
            { SystemKey, System },
            { OperationNameKey, operation },
            { OperationTypeKey, type },
            { DestinationKey, destination },
        };
        if (error is not null)
        {
            tags.Add(ErrorTypeKey, error);
        }

        return tags;
    }
}
