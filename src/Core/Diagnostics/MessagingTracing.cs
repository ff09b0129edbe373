using System.Diagnostics;
using System.Globalization;

namespace Trellis.Core.Diagnostics;

/// <summary>Producer and consumer spans on <see cref="TrellisTelemetry.Source"/> after OpenTelemetry's messaging
/// conventions, and the W3C trace context that links them across a broker.</summary>
/// <remarks>Every member costs a flag check and no allocation while nothing listens to the source: the span name and
/// tags are built only after <see cref="ActivitySource.HasListeners"/> said yes.</remarks>
public static class MessagingTracing
{
    /// <summary><c>messaging.system</c> of the in-process bus and of flows without a broker.</summary>
    public const string TrellisSystem = "trellis";

    /// <summary><c>messaging.system</c> on RabbitMQ.</summary>
    public const string RabbitMqSystem = "rabbitmq";

    /// <summary>The W3C <c>traceparent</c> header name (HTTP, AMQP and the edge link use it as is).</summary>
    public const string TraceParentHeader = "traceparent";

    /// <summary>The W3C <c>tracestate</c> header name.</summary>
    public const string TraceStateHeader = "tracestate";

    /// <summary>Attribute keys of OpenTelemetry's messaging conventions.</summary>
    public static class Attributes
    {
        public const string System = "messaging.system";
        public const string DestinationName = "messaging.destination.name";
        public const string OperationType = "messaging.operation.type";
        public const string OperationName = "messaging.operation.name";
        public const string MessageId = "messaging.message.id";
        public const string ConsumerGroup = "messaging.consumer.group.name";
        public const string ErrorType = "error.type";
    }

    /// <summary><c>messaging.operation.type</c> of a producer span.</summary>
    public const string Publish = "publish";

    /// <summary><c>messaging.operation.type</c> of a consumer span.</summary>
    public const string Process = "process";

    private static readonly SpanNames PublishNames = TrellisTelemetry.SpanNamesOf(Publish);
    private static readonly SpanNames ProcessNames = TrellisTelemetry.SpanNamesOf(Process);

    /// <summary><c>messaging.system</c> for a transport or flow broker by its name: <c>rabbitmq</c> on RabbitMQ,
    /// <c>trellis</c> in process.</summary>
    public static string SystemOf(string transportName) =>
        string.Equals(transportName, RabbitMqSystem, StringComparison.Ordinal) ? RabbitMqSystem : TrellisSystem;

    /// <summary>Whether the bus gives a publish on <paramref name="system"/> a producer span of its own: only where it
    /// crosses a broker. In process a message goes from the caller's task to the handler's with no hop to show: a
    /// request's handler runs under the caller's span, and a signal's or durable message's consumer span is the caller's
    /// child.</summary>
    public static bool HasProducerSpans(string system) => system != TrellisSystem;

    /// <summary>The <c>traceparent</c> of the current activity, or null when there is none or it is not W3C.</summary>
    public static string? CurrentTraceParent => TraceParentOf(Activity.Current);

    /// <summary>The <c>traceparent</c> of <paramref name="activity"/>, or null when it is null or not W3C.</summary>
    public static string? TraceParentOf(Activity? activity) =>
        activity is { IdFormat: ActivityIdFormat.W3C } ? activity.Id : null;

    /// <summary>The <c>tracestate</c> of <paramref name="activity"/>, or null when it has none.</summary>
    public static string? TraceStateOf(Activity? activity) =>
        activity is { IdFormat: ActivityIdFormat.W3C, TraceStateString: { Length: > 0 } state } ? state : null;

    /// <summary>Starts a producer span <c>publish {destination}</c> as a child of the current activity; null when
    /// nothing samples it.</summary>
    public static Activity? StartPublish(string system, string destination, string? messageId = null)
    {
        if (!TrellisTelemetry.Source.HasListeners())
        {
            return null;
        }

        var activity = TrellisTelemetry.Source.StartActivity(ActivityKind.Producer, default(ActivityContext), name: PublishNames.Of(destination));
        if (activity is { IsAllDataRequested: true })
        {
            // A new span has no tags yet: AddTag appends, where SetTag would first look for each key.
            activity.AddTag(Attributes.System, system);
            activity.AddTag(Attributes.DestinationName, destination);
            activity.AddTag(Attributes.OperationType, Publish);
            activity.AddTag(Attributes.OperationName, Publish);
            if (messageId is not null)
            {
                activity.AddTag(Attributes.MessageId, messageId);
            }
        }

        return activity;
    }

    /// <summary>Starts a consumer span <c>process {destination}</c> parented to the publisher's
    /// <paramref name="traceParent"/> (a new trace when it is missing or malformed); null when nothing samples it.</summary>
    /// <remarks>The span becomes <see cref="Activity.Current"/>. A caller that is not an async method restores the
    /// previous current activity itself once the handler has returned its task.</remarks>
    public static Activity? StartProcess(string system, string destination, string? traceParent, string? traceState, string? group = null, string? messageId = null) =>
        TrellisTelemetry.Source.HasListeners()
            ? TagProcess(Start(ActivityKind.Consumer, ProcessNames, destination, Parent(traceParent, traceState)), system, destination, group, messageId)
            : null;

    /// <summary>Starts a consumer span <c>process {destination}</c> parented to the publisher's <paramref name="parent"/>
    /// context (a new trace when it is default); null when nothing samples it.</summary>
    public static Activity? StartProcess(string system, string destination, ActivityContext parent, string? group = null, string? messageId = null) =>
        TagProcess(Start(ActivityKind.Consumer, ProcessNames, destination, parent), system, destination, group, messageId);

    private static Activity? TagProcess(Activity? activity, string system, string destination, string? group, string? messageId)
    {
        if (activity is null)
        {
            return null;
        }

        if (activity.IsAllDataRequested)
        {
            activity.AddTag(Attributes.System, system);
            activity.AddTag(Attributes.DestinationName, destination);
            activity.AddTag(Attributes.OperationType, Process);
            activity.AddTag(Attributes.OperationName, Process);
            if (group is not null)
            {
                activity.AddTag(Attributes.ConsumerGroup, group);
            }

            if (messageId is not null)
            {
                activity.AddTag(Attributes.MessageId, messageId);
            }
        }

        return activity;
    }

    /// <summary>Starts a span <c>{operation} {target}</c> of <paramref name="kind"/> parented to a remote
    /// <paramref name="traceParent"/> (a new trace when it is missing or malformed) and makes it current; null when
    /// nothing samples it.</summary>
    public static Activity? StartLinked(ActivityKind kind, string operation, string target, string? traceParent, string? traceState = null) =>
        TrellisTelemetry.Source.HasListeners()
            ? Start(kind, TrellisTelemetry.SpanNamesOf(operation), target, Parent(traceParent, traceState))
            : null;

    /// <summary>Starts a span <c>{operation} {target}</c> of <paramref name="kind"/> parented to <paramref name="parent"/>
    /// (a new trace when it is default) and makes it current; null when nothing samples it.</summary>
    public static Activity? StartLinked(ActivityKind kind, string operation, string target, ActivityContext parent) =>
        Start(kind, TrellisTelemetry.SpanNamesOf(operation), target, parent);

    /// <summary>The publisher's context from its <c>traceparent</c> text; default (a new trace) when it is missing or
    /// malformed.</summary>
    private static ActivityContext Parent(string? traceParent, string? traceState) =>
        !string.IsNullOrEmpty(traceParent) && ActivityContext.TryParse(traceParent, traceState, isRemote: true, out var parent) ? parent : default;

    private static Activity? Start(ActivityKind kind, SpanNames names, string target, ActivityContext parent)
    {
        if (!TrellisTelemetry.Source.HasListeners())
        {
            return null;
        }

        if (parent == default)
        {
            // No trace context came with it: its own trace, never one of whatever ran the consumer loop or the stream.
            Activity.Current = null;
        }

        return TrellisTelemetry.Source.StartActivity(kind, parent, name: names.Of(target));
    }

    /// <summary>Records a Trellis code on <paramref name="activity"/> (an error status from 300 on) and stops it; the span
    /// must not carry a code or an error type yet.</summary>
    public static void Finish(Activity? activity, int code)
    {
        if (activity is null)
        {
            return;
        }

        if (activity.IsAllDataRequested)
        {
            activity.AddTag(TrellisTelemetry.Tags.Code, BusMetrics.CodeTag(code));
            if (code >= 300)
            {
                activity.AddTag(Attributes.ErrorType, code.ToString(CultureInfo.InvariantCulture));
                activity.SetStatus(ActivityStatusCode.Error);
            }
        }

        activity.Stop();
    }

    /// <summary>Marks <paramref name="activity"/> failed by <paramref name="exception"/> and stops it.</summary>
    public static void Fail(Activity? activity, Exception exception)
    {
        if (activity is null)
        {
            return;
        }

        if (activity.IsAllDataRequested)
        {
            activity.SetTag(Attributes.ErrorType, exception.GetType().FullName);
            activity.SetStatus(ActivityStatusCode.Error, exception.Message);
        }

        activity.Stop();
    }
}
