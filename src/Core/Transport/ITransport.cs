using System.Diagnostics;
using Trellis.Core.Messaging;

namespace Trellis.Core.Transport;

/// <summary>The three exchanges of the broker topology every transport builds.</summary>
public enum ExchangeKind
{
    /// <summary>Service requests: one queue per (topic, group), competing consumers, mandatory routing.</summary>
    Requests,

    /// <summary>Signals to slots: one queue per (pattern, group), exclusive queues for group-less slots.</summary>
    Signals,

    /// <summary>Durable messages: durable queues per (pattern, group), persistent, confirmed, acked.</summary>
    Durable,
}

/// <summary>The outcome of a publish as far as the transport can tell.</summary>
public enum PublishStatus
{
    /// <summary>At least one queue took the message (confirmed by the broker where confirms are on).</summary>
    Routed,

    /// <summary>No queue is bound for the topic.</summary>
    Unroutable,

    /// <summary>A queue refused the message because it was full.</summary>
    QueueFull,
}

/// <summary>A queue to consume from and how it is bound. Consumers of equal specs share one queue.</summary>
/// <param name="Exchange">Which exchange the queue is bound to.</param>
/// <param name="Pattern">An exact topic, or a glob pattern (signals and durable only).</param>
/// <param name="Group">Consumers with the same group share the queue (competing consumers); null gives
/// each consumer an exclusive queue that is deleted with it.</param>
/// <param name="MaxLength">Ready messages the queue holds before it refuses more.</param>
/// <param name="Prefetch">Deliveries a consumer may hold unacknowledged.</param>
/// <param name="SingleConsumer">At most one consumer at a time (an exclusive consumer, AMQP
/// <c>basic.consume exclusive</c>): while one holds the queue, consuming it again fails with a
/// <see cref="Errors.TrellisException"/> of kind <see cref="Errors.ErrorKind.FailedPrecondition"/>; once
/// it stops, the next consumer gets what it left unacknowledged. Durable queues of a group only.</param>
public sealed record QueueSpec(
    ExchangeKind Exchange, string Pattern, string? Group, int MaxLength = 10_000, int Prefetch = 64, bool SingleConsumer = false)
{
    /// <summary>The queue's logical name, the same in every process (transports may shorten it).</summary>
    public string SharedName => $"trellis.{Exchange.ToString().ToLowerInvariant()}.{Pattern}.{Group}";

    /// <summary>Throws <see cref="ArgumentException"/> for combinations no transport supports.</summary>
    public void Validate()
    {
        if (SingleConsumer && (Exchange != ExchangeKind.Durable || Group is null))
        {
            throw new ArgumentException(
                $"A single consumer applies only to a durable queue of a group (was {Exchange} '{Pattern}', group '{Group}')", "queue");
        }
    }
}

/// <summary>A message as a transport carries it: body plus the headers of the kernel's envelope.</summary>
public sealed class TransportMessage
{
    public required string Topic { get; init; }

    public JsonPayload Data { get; init; }

    public int Code { get; init; } = Codes.Ok;

    /// <summary>Unique per request; a reply carries the sender of its request.</summary>
    public string Sender { get; init; } = "";

    /// <summary>Where the reply goes (requests only).</summary>
    public string? ReplyTo { get; init; }

    public string? MessageId { get; init; }

    /// <summary>The requester's timeout in milliseconds; 0 when none.</summary>
    public int TimeoutMs { get; init; }

    private string? _traceParent;
    private string? _traceState;

    /// <summary>The publisher's trace context as a value (the bus sets it). A transport in the same process hands the
    /// message over as it is, so the consumer starts its span from this without formatting or parsing text; a transport
    /// that serialises reads <see cref="TraceParent"/>.</summary>
    public ActivityContext TraceContext { get; init; }

    /// <summary>The requester's own activity, for a request that stays in the process (the bus sets it where no producer
    /// span stands between, and only on requests, whose requester waits for the reply): the handler runs under it, as a
    /// method call would, instead of under a consumer span of its own. A transport that serialises drops it.</summary>
    public Activity? Caller { get; init; }

    /// <summary>W3C trace context of the publisher (<c>traceparent</c>): as received, or formatted from
    /// <see cref="TraceContext"/> when first read.</summary>
    public string? TraceParent
    {
        get => _traceParent ??= Format(TraceContext);
        init => _traceParent = value;
    }

    /// <summary>W3C vendor trace state of the publisher (<c>tracestate</c>), when it has any.</summary>
    public string? TraceState
    {
        get => _traceState ?? (TraceContext.TraceState is { Length: > 0 } state ? state : null);
        init => _traceState = value;
    }

    private static string? Format(ActivityContext context)
    {
        if (context == default)
        {
            return null;
        }

        // 00-{trace id}-{span id}-{flags}: 2 + 1 + 32 + 1 + 16 + 1 + 2 characters.
        return string.Create(55, context, static (chars, c) =>
        {
            "00-".CopyTo(chars);
            c.TraceId.ToHexString().CopyTo(chars[3..]);
            chars[35] = '-';
            c.SpanId.ToHexString().CopyTo(chars[36..]);
            chars[52] = '-';
            chars[53] = '0';
            chars[54] = (c.TraceFlags & ActivityTraceFlags.Recorded) != 0 ? '1' : '0';
        });
    }
}

/// <summary>One message handed to a consumer.</summary>
public abstract class Delivery
{
    protected Delivery(TransportMessage message, bool redelivered)
    {
        Message = message;
        Redelivered = redelivered;
    }

    public TransportMessage Message { get; private set; }

    /// <summary>True when the message was handed out before and not acknowledged.</summary>
    public bool Redelivered { get; private set; }

    /// <summary>Lets a transport reuse one object for deliveries that need no acknowledgement; a handler
    /// must not keep a non-durable delivery after it returns.</summary>
    protected void Reuse(TransportMessage message, bool redelivered)
    {
        Message = message;
        Redelivered = redelivered;
    }

    /// <summary>Acknowledges a durable delivery; a no-op for the other exchanges.</summary>
    public abstract ValueTask AckAsync();

    /// <summary>Gives a durable delivery back: requeued for another consumer, or dropped.</summary>
    public abstract ValueTask RejectAsync(bool requeue);
}

/// <summary>Consumes deliveries one at a time per consumer; the bus returns quickly and runs handlers
/// concurrently up to its own bound, so a slow await here is back-pressure on the queue.</summary>
public delegate ValueTask DeliveryHandler(Delivery delivery, CancellationToken cancellationToken);

/// <summary>Receives replies addressed to this transport's <see cref="ITransport.ReplyAddress"/>.</summary>
public delegate void ReplyHandler(TransportMessage reply);

/// <summary>A message broker topology: exchanges, bindings, queues, competing and exclusive consumers,
/// and a reply address. The in-process transport copies what the RabbitMQ transport builds on the broker,
/// so the kernel's semantics (in <see cref="Bus.MessageBus"/>) are the same on both.</summary>
/// <remarks>
/// Contract, held by the conformance suite:
/// <list type="bullet">
/// <item>Requests are published with mandatory routing: a topic with no bound queue gives
/// <see cref="PublishStatus.Unroutable"/> or, where the broker says so later, a reply with code 404 and
/// the request's sender to the request's ReplyTo.</item>
/// <item>Requests and signals are at-most-once: acknowledged when handed to the handler.
/// Durable deliveries stay unacknowledged until <see cref="Delivery.AckAsync"/>; when their consumer goes
/// away they are delivered again, flagged <see cref="Delivery.Redelivered"/>.</item>
/// <item>A transport may deliver messages a glob pattern does not match (binding wider); the bus filters.</item>
/// <item>Durable messages may carry a ReplyTo (durable requests): the transport keeps it, and the requester's
/// timeout in <see cref="TransportMessage.TimeoutMs"/>, without letting the message expire in its queue.</item>
/// <item>A full queue refuses: <see cref="PublishStatus.QueueFull"/> on the durable exchange and for requests;
/// for requests, where the broker says so later, a reply with code 503 and null data under the request's sender.</item>
/// </list>
/// </remarks>
public interface ITransport : IAsyncDisposable
{
    /// <summary>A short name for logs and metrics ("inmemory", "rabbitmq").</summary>
    string Name { get; }

    /// <summary>Where replies for this transport arrive; valid after <see cref="StartAsync"/>.</summary>
    string ReplyAddress { get; }

    /// <summary>Connects and starts receiving replies.</summary>
    ValueTask StartAsync(ReplyHandler onReply, CancellationToken cancellationToken);

    /// <summary>Declares the queue and its binding if needed and starts a consumer on it.
    /// Disposing the result stops the consumer (requeueing what it had not acknowledged).</summary>
    /// <exception cref="Errors.TrellisException">Kind FailedPrecondition: the queue is
    /// <see cref="QueueSpec.SingleConsumer"/> and another consumer holds it (or this one asks for a single
    /// consumer and others are consuming).</exception>
    ValueTask<IAsyncDisposable> ConsumeAsync(QueueSpec queue, DeliveryHandler handler, CancellationToken cancellationToken);

    /// <summary>Declares a durable queue of a group and its binding without consuming from it, so messages
    /// published before any consumer exists wait in it. Durable queues outlive their consumers.</summary>
    /// <exception cref="ArgumentException">The queue is not a durable queue of a group.</exception>
    ValueTask DeclareAsync(QueueSpec queue, CancellationToken cancellationToken);

    ValueTask<PublishStatus> PublishAsync(ExchangeKind exchange, TransportMessage message, CancellationToken cancellationToken);

    /// <summary>Sends a reply to another transport's reply address.</summary>
    ValueTask SendReplyAsync(string replyTo, TransportMessage reply, CancellationToken cancellationToken);

    /// <summary>True when every delivery matches its queue's pattern exactly, so the bus need not filter.</summary>
    bool DeliversOnlyMatches => false;

    /// <summary>True when the transport can publish and consume (for /readyz).</summary>
    ValueTask<bool> IsHealthyAsync(CancellationToken cancellationToken);
}
