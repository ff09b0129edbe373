using System.Diagnostics;
using Trellis.Core.Bus;
using Trellis.Core.Messaging;
using Trellis.Core.Transport;

namespace Trellis.Core.Diagnostics;

/// <summary>The bus's spans: across a broker, a producer span per request, signal and durable publish whose
/// <c>traceparent</c> travels on the <see cref="TransportMessage"/>, and a consumer span around each handler call
/// parented to it. In process a request's handler runs under its requester's span, which is waiting for the reply: the
/// hop is a call within one process, with no queue or connection of its own to show. Signals and durable messages,
/// which outlive their sender, get a consumer span parented to the sender's.</summary>
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

    /// <summary>The activity a request's handler runs under when the request stays in the process
    /// (<see cref="TransportMessage.Caller"/>): the requester's current one, while something listens and no producer
    /// span stands between; else null.</summary>
    public static Activity? Caller(string system) =>
        !MessagingTracing.HasProducerSpans(system) && TrellisTelemetry.Source.HasListeners() && Activity.Current is { IdFormat: ActivityIdFormat.W3C } current
            ? current
            : null;

    /// <summary>Starts the consumer span of a delivery and makes it current, or makes the requester's span current for
    /// a request that stayed in the process; <see cref="DeliverySpan.Leave"/> puts back the activity that was current
    /// before (for callers that are not async methods).</summary>
    public static DeliverySpan StartDelivery(string system, Subscription subscription, TransportMessage message)
    {
        if (!TrellisTelemetry.Source.HasListeners())
        {
            return default;
        }

        // A consumer loop started inside a traced call may still hold that call's span, stopped since; it cannot be made
        // current again (Activity.Current refuses a stopped activity, throwing and catching an exception each time).
        var previous = Activity.Current is { IsStopped: false } current ? current : null;
        if (message.Caller is { IsStopped: false } caller)
        {
            // The requester still waits: its span is the handler's parent, as for a method it called. Once it has
            // stopped (the requester gave up), the handler gets a consumer span of its own below.
            Activity.Current = caller;
            return new DeliverySpan(null, previous);
        }
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

    /// <summary><see cref="StartDelivery"/> for a request, which also hands the handler its span on
    /// <see cref="Request.Trace"/>. A subscription that only passes its requests on
    /// (<see cref="Subscription.PassesTraceOn"/>) gets its in-process requester's span that way alone, as a value:
    /// making it current would cost every such call for nothing that reads it.</summary>
    public static DeliverySpan StartRequest(string system, Subscription subscription, TransportMessage message, Request request)
    {
        if (subscription.PassesTraceOn && message.Caller is { IsStopped: false } caller && TrellisTelemetry.Source.HasListeners())
        {
            request.Trace = caller;
            return default;
        }

        var span = StartDelivery(system, subscription, message);
        request.Trace = span.Activity ?? (message.Caller is { IsStopped: false } live ? live : null);
        return span;
    }

    /// <summary>The publisher's context as a parent across the bus: remote, as any message's sender is.</summary>
    private static ActivityContext Remote(ActivityContext context) =>
        new(context.TraceId, context.SpanId, context.TraceFlags, context.TraceState, isRemote: true);

    /// <summary>A consumer span (null when the handler runs under its requester's span or nothing is traced) and the
    /// activity that was current before the delivery changed it.</summary>
    public readonly struct DeliverySpan(Activity? activity, Activity? previous)
    {
        /// <summary>True for every delivery that changed the current activity; false only for <c>default</c> (nothing
        /// traced).</summary>
        private readonly bool _entered = true;

        public Activity? Activity { get; } = activity;

        /// <summary>Restores the activity that was current before the delivery (the span itself goes on).</summary>
        public void Leave()
        {
            if (_entered)
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
