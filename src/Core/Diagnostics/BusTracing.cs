using System.Diagnostics;
using Trellis.Core.Bus;
using Trellis.Core.Transport;

namespace Trellis.Core.Diagnostics;

/// <summary>The bus's spans: a producer span per request, signal and durable publish whose <c>traceparent</c> travels
/// on the <see cref="TransportMessage"/>, and a consumer span around each handler call parented to it.</summary>
/// <remarks>With nothing listening every member is a flag check: no span, no allocation, the current activity
/// untouched.</remarks>
internal static class BusTracing
{
    /// <summary><c>messaging.system</c> for a transport: <c>rabbitmq</c> on RabbitMQ, <c>trellis</c> in process.</summary>
    public static string SystemOf(ITransport transport) => MessagingTracing.SystemOf(transport.Name);

    /// <summary>Starts the producer span of a publish; null when nothing samples it.</summary>
    public static Activity? StartPublish(string system, string topic, string? messageId = null) =>
        MessagingTracing.StartPublish(system, topic, messageId);

    /// <summary>The <c>traceparent</c> a published message carries: its producer span's, else the current activity's.</summary>
    public static string? TraceParent(Activity? producer) => MessagingTracing.TraceParentOf(producer ?? Activity.Current);

    /// <summary>The <c>tracestate</c> a published message carries, if any.</summary>
    public static string? TraceState(Activity? producer) => MessagingTracing.TraceStateOf(producer ?? Activity.Current);

    /// <summary>Starts the consumer span of a delivery and makes it current; <see cref="DeliverySpan.Leave"/> puts
    /// back the activity that was current before (for callers that are not async methods).</summary>
    public static DeliverySpan StartDelivery(string system, Subscription subscription, TransportMessage message)
    {
        if (!TrellisTelemetry.Source.HasListeners())
        {
            return default;
        }

        var previous = Activity.Current;
        var activity = MessagingTracing.StartProcess(system, message.Topic, message.TraceParent, message.TraceState, subscription.Group, message.MessageId);
        if (activity is null)
        {
            Activity.Current = previous;
            return default;
        }

        return new DeliverySpan(activity, previous);
    }

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
