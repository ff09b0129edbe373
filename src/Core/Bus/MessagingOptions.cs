using Trellis.Core.Errors;
using Trellis.Core.Topics;

namespace Trellis.Core.Bus;

/// <summary>Limits and defaults of the messaging kernel (configuration section <c>Trellis:Messaging</c>).</summary>
public sealed class MessagingOptions
{
    /// <summary>How long a requester waits when it names no timeout. Gilmour waited 600 s; a caller that
    /// needs that long should say so, so the default is 30 s.</summary>
    public TimeSpan DefaultRequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a handler may run when its subscription names no timeout (then 504).</summary>
    public TimeSpan DefaultHandlerTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The longest timeout anyone may ask for.</summary>
    public TimeSpan MaxTimeout { get; set; } = TimeSpan.FromHours(1);

    public int MaxTopicLength { get; set; } = TopicRules.DefaultMaxLength;

    /// <summary>Largest message body in bytes.</summary>
    public int MaxPayloadBytes { get; set; } = 1024 * 1024;

    /// <summary>Ready messages a queue holds before publishers are refused (503).</summary>
    public int QueueMaxLength { get; set; } = 10_000;

    /// <summary>Handlers of one subscription running at once in this process.</summary>
    public int HandlerConcurrency { get; set; } = 64;

    /// <summary>Requests this process may have waiting for replies; more wait for a free slot.</summary>
    public int MaxInFlightRequests { get; set; } = 10_000;

    /// <summary>Error reports kept in the bounded error queue (Gilmour kept 10,000).</summary>
    public int ErrorQueueCapacity { get; set; } = 10_000;

    /// <summary>Message ids a durable subscription remembers to drop redelivered duplicates (and, as many
    /// again, to tell a retried failure from a message its handler gave back with <see cref="RequeueException"/>).</summary>
    public int DedupeWindow { get; set; } = 10_000;

    /// <summary>Where errors (codes ≥ 300) are signalled.</summary>
    public string ErrorTopic { get; set; } = "trellis.errors";

    /// <summary>Throws with a message naming the first bad setting.</summary>
    public MessagingOptions Validate()
    {
        Positive(DefaultRequestTimeout, nameof(DefaultRequestTimeout));
        Positive(DefaultHandlerTimeout, nameof(DefaultHandlerTimeout));
        Positive(MaxTimeout, nameof(MaxTimeout));
        AtLeast(MaxTopicLength, 1, nameof(MaxTopicLength));
        AtLeast(MaxPayloadBytes, 1, nameof(MaxPayloadBytes));
        AtLeast(QueueMaxLength, 1, nameof(QueueMaxLength));
        AtLeast(HandlerConcurrency, 1, nameof(HandlerConcurrency));
        AtLeast(MaxInFlightRequests, 1, nameof(MaxInFlightRequests));
        AtLeast(ErrorQueueCapacity, 1, nameof(ErrorQueueCapacity));
        AtLeast(DedupeWindow, 0, nameof(DedupeWindow));
        TopicRules.ValidateTopic(ErrorTopic, MaxTopicLength, $"Trellis:Messaging:{nameof(ErrorTopic)}");
        return this;
    }

    private static void Positive(TimeSpan value, string name)
    {
        if (value <= TimeSpan.Zero)
        {
            throw TrellisException.Invalid($"Trellis:Messaging:{name} must be positive (was {value})");
        }
    }

    private static void AtLeast(int value, int min, string name)
    {
        if (value < min)
        {
            throw TrellisException.Invalid($"Trellis:Messaging:{name} must be at least {min} (was {value})");
        }
    }
}

/// <summary>How one subscription behaves.</summary>
public sealed record HandlerOptions
{
    /// <summary>Runs past this give 504 (services) or an error report (slots); null for the default.</summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>Handlers of this subscription running at once here; null for the default.</summary>
    public int? Concurrency { get; init; }

    /// <summary>Ready messages the subscription's queue holds; null for the default.</summary>
    public int? MaxQueueLength { get; init; }

    /// <summary>Durable subscriptions: consume as the queue's only consumer (see <see cref="Transport.QueueSpec.SingleConsumer"/>);
    /// subscribing fails with FailedPrecondition while another consumer holds the queue.</summary>
    public bool SingleConsumer { get; init; }

    /// <summary>Durable subscriptions: drop deliveries whose message id this process handled recently (the
    /// default). False hands every delivery to the handler, redeliveries of handled ids included, for
    /// handlers that deduplicate from their own durable state.</summary>
    public bool Deduplicate { get; init; } = true;

    /// <summary>Services: the handler only passes each request on to another process, with
    /// <see cref="Messaging.Request.TraceParent"/> as its trace context, and starts no span here. The bus then leaves the
    /// current activity alone around it, where by default a request that stayed in the process has its handler run under
    /// the requester's span, as a method it called. A request that crossed a broker still gets its consumer span.</summary>
    public bool PassesTraceOn { get; init; }
}
