using System.Diagnostics;
using Trellis.Core.Bus;
using Trellis.Core.Transport;

namespace Trellis.Core.Diagnostics;

/// <summary>The bus's spans: across a broker, a producer span per request, signal and durable publish whose
/// <c>traceparent</c> travels on the <see cref="TransportMessage"/>; everywhere, a consumer span around each handler call
/// parented to the producer span, or in process to the caller's span.</summary>
/// <remarks>With nothing listening every member is a flag check: no span, no allocation, the current activity
/// untouched.</remarks>
internal static class BusTracing
{
    /// <summary><c>messaging.system</c> for a transport: <c>rabbitmq</c> on RabbitMQ, <c>trellis</c> in process.</summary>
    public static string SystemOf(ITransport transport) => MessagingTracing.SystemOf(transport.Name);

    /// <summary>Starts the producer span of a publish; null in process (<see cref="MessagingTracing.HasProducerSpans"/>)
    /// or when nothing samples it.</summary>
    public static Activity? StartPublish(string system, string topic, string? messageId = null) =>
        MessagingTracing.HasProducerSpans(system) ? MessagingTracing.StartPublish(system, topic, messageId) : null;

    /// <summary>The trace context a published message carries: its producer span's, else the current activity's (a
    /// W3C one); none without either.</summary>
    public static ActivityContext Context(Activity? producer) =>
        (producer ?? Activity.Current) is { IdFormat: ActivityIdFormat.W3C } activity ? activity.Context : default;

    /// <summary>Starts the consumer span of a delivery and makes it current; <see cref="DeliverySpan.Leave"/> puts
    /// back the activity that was current before (for callers that are not async methods).</summary>
    public static DeliverySpan StartDelivery(string system, Subscription subscription, TransportMessage message)
    {
        if (!TrellisTelemetry.Source.HasListeners())
        {
            return default;
        }

        // A consumer loop started inside a traced call may still hold that call's span, stopped since; it cannot be made
        // current again (Activity.Current refuses a stopped activity, throwing and catching an exception each time).
        var previous = Activity.Current is { IsStopped: false } current ? current : null;
        // The context as a value when the message never left the process; its traceparent text when it crossed a broker.
        var activity = message.TraceContext != default
            ? MessagingTracing.StartProcess(system, message.Topic, Remote(message.TraceContext), subscription.Group, message.MessageId)
            : MessagingTracing.StartProcess(system, message.Topic, message.TraceParent, message.TraceState, subscription.Group, message.MessageId);
        if (activity is null)
        {
            Activity.Current = previous;
            return default;
        }

        return new DeliverySpan(activity, previous);
    }

    /// <summary>The publisher's context as a parent across the bus: remote, as any message's sender is.</summary>
    private static ActivityContext Remote(ActivityContext context) =>
        new(context.TraceId, context.SpanId, context.TraceFlags, context.TraceState, isRemote: true);

    /// <summary>A consumer span and the activity that was current before it started.</summary>
    public readonly struct DeliverySpan(Activity? activity, Activity? previous)
    {
        public Activity? Activity { get; } = activity;

        /// <summary>Restores the activity that was current before the span (the span itself goes on).</summary>
        public void Leave()
        {
            if (Activity is not null)
            {
                System.Diagnostics.Activity.Current = previous;
            }
        }

        /// <summary>Records the handler's code and stops the span.</summary>
        public void Finish(int code) => MessagingTracing.Finish(Activity, code);

        /// <summary>Records the handler's failure and stops the span.</summary>
        public void Fail(Exception exception) => MessagingTracing.Fail(Activity, exception);
    }
}
