using System.Diagnostics;
using Trellis.Core.Diagnostics;

namespace Trellis.Core.Messaging;

/// <summary>A reply or composition output: the data and its code (<c>{data, code}</c> on the wire).</summary>
public readonly record struct Message(JsonPayload Data, int Code = Codes.Ok)
{
    public bool IsOk => Code == Codes.Ok;

    public static Message Ok(JsonPayload data) => new(data, Codes.Ok);

    public static Message Error(int code, string text) => new(JsonPayload.From(text), code);
}

/// <summary>What a service handler receives: the request envelope.</summary>
public sealed class Request
{
    internal Request(string topic, JsonPayload data, string sender, TimeSpan timeout, string? messageId)
    {
        Topic = topic;
        Data = data;
        Sender = sender;
        Timeout = timeout;
        MessageId = messageId;
    }

    /// <summary>The topic the request was published to.</summary>
    public string Topic { get; }

    public JsonPayload Data { get; }

    /// <summary>Unique per request; replies are correlated by it.</summary>
    public string Sender { get; }

    /// <summary>How long the requester will wait.</summary>
    public TimeSpan Timeout { get; }

    public string? MessageId { get; }

    /// <summary>The W3C <c>traceparent</c> of the span the handler runs under (its requester's, or the bus's consumer
    /// span); null when nothing is traced. A handler that passes the request on to another process sends it along.</summary>
    public string? TraceParent => MessagingTracing.TraceParentOf(Trace);

    /// <summary>The W3C <c>tracestate</c> that goes with <see cref="TraceParent"/>; null when there is none.</summary>
    public string? TraceState => MessagingTracing.TraceStateOf(Trace);

    /// <summary>The span the handler runs under; set by the bus while something listens to its spans.</summary>
    internal Activity? Trace { get; set; }
}

/// <summary>What a slot handler receives: one signal.</summary>
public sealed class Signal
{
    internal Signal(string topic, JsonPayload data, string sender, string? messageId)
    {
        Topic = topic;
        Data = data;
        Sender = sender;
        MessageId = messageId;
    }

    public string Topic { get; }

    public JsonPayload Data { get; }

    public string Sender { get; }

    public string? MessageId { get; }
}
