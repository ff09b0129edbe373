using Trellis.Core.Messaging;
using Trellis.Core.Transport;

namespace Trellis.Core.Bus;

/// <summary>Handles one request; the returned message is the reply (code 200 unless it says otherwise).</summary>
public delegate ValueTask<Message> RequestHandler(Request request, CancellationToken cancellationToken);

/// <summary>Handles one signal.</summary>
public delegate ValueTask SignalHandler(Signal signal, CancellationToken cancellationToken);

/// <summary>Handles one durable message; returning acknowledges it, throwing gives it back.</summary>
/// <remarks>
/// <list type="bullet">
/// <item>Returning acknowledges the message. A durable request (<see cref="DurableMessage.ReplyTo"/> set)
/// is answered with <see cref="MessageBus.ReplyAsync"/>, before returning.</item>
/// <item>Throwing <see cref="RequeueException"/> gives the message back to its queue for the next consumer
/// (possibly this one), flagged redelivered; that is not a failure: nothing is reported and it does not
/// count towards the retry below.</item>
/// <item>Throwing anything else (or running past the subscription's timeout) is a failure: the message is
/// given back once for a retry, and dropped and reported on the error channel when it fails again (a
/// durable request's requester then gets the failure as its reply).</item>
/// <item>When the subscription is disposed while the handler runs, its token is cancelled and the message is
/// not acknowledged: it comes back, redelivered, to the next consumer.</item>
/// </list>
/// </remarks>
public delegate ValueTask DurableHandler(DurableMessage message, CancellationToken cancellationToken);

/// <summary>A message of a durable subscription.</summary>
/// <param name="MessageId">Identifies the message across redeliveries (for deduplication).</param>
/// <param name="Redelivered">The message was handed out before and not acknowledged.</param>
public sealed record DurableMessage(string Topic, JsonPayload Data, string MessageId, bool Redelivered)
{
    /// <summary>Unique per publish; the reply to a durable request carries it back to the requester.</summary>
    public string Sender { get; init; } = "";

    /// <summary>Where the reply to a durable request goes; null for a plain durable message.</summary>
    public string? ReplyTo { get; init; }

    /// <summary>How long the requester waits for the reply; zero when it is not a request or names none.</summary>
    public TimeSpan Timeout { get; init; }
}

/// <summary>What kind of subscription a handle stands for.</summary>
public enum SubscriptionKind
{
    Service,
    Slot,
    Durable,
}

/// <summary>A live subscription; dispose it to unsubscribe.</summary>
public sealed class Subscription : IAsyncDisposable
{
    private readonly Func<Subscription, ValueTask> _onDispose;
    private readonly CancellationTokenSource _stopping = new();
    private IAsyncDisposable? _consumer;
    private int _disposed;

    internal Subscription(SubscriptionKind kind, string topic, string? group, TimeSpan timeout, int concurrency, Func<Subscription, ValueTask> onDispose)
    {
        Kind = kind;
        Topic = topic;
        Group = group;
        Timeout = timeout;
        Concurrency = new ConcurrencyLimiter(concurrency);
        _onDispose = onDispose;
    }

    public SubscriptionKind Kind { get; }

    /// <summary>The topic, or the glob pattern of a slot.</summary>
    public string Topic { get; }

    public string? Group { get; }

    public TimeSpan Timeout { get; }

    internal ConcurrencyLimiter Concurrency { get; }

    internal CancellationToken Stopping => _stopping.Token;

    internal bool IsPattern { get; init; }

    /// <summary>See <see cref="HandlerOptions.PassesTraceOn"/>.</summary>
    internal bool PassesTraceOn { get; init; }

    /// <summary>Set when the transport already filters exactly.</summary>
    internal bool Unfiltered { get; init; }

    /// <summary>Ids already handled, to drop duplicates; null when the subscription does not deduplicate.</summary>
    internal DedupeWindow? Dedupe { get; init; }

    /// <summary>Ids of durable messages that failed once here (the next failure drops them).</summary>
    internal DedupeWindow? Failed { get; init; }

    /// <summary>Ids of durable messages a handler here gave back with <see cref="RequeueException"/>.</summary>
    internal DedupeWindow? Requeued { get; init; }

    internal void Attach(IAsyncDisposable consumer) => _consumer = consumer;

    /// <summary>A cancellation source for one handler call: the spare one a synchronously finished call gave back, or a
    /// new one (as Kestrel reuses a connection's abort source per request).</summary>
    internal CancellationTokenSource RentCancellation() => Interlocked.Exchange(ref _spareCancellation, null) ?? new CancellationTokenSource();

    /// <summary>Gives back the source of a call that finished synchronously: reset (its registrations removed) and kept
    /// as the spare, or disposed if it cannot be reset.</summary>
    internal void ReturnCancellation(CancellationTokenSource cancel)
    {
        if (!cancel.TryReset() || Interlocked.CompareExchange(ref _spareCancellation, cancel, null) is not null)
        {
            cancel.Dispose();
        }
    }

    private CancellationTokenSource? _spareCancellation;

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_consumer is not null)
        {
            await _consumer.DisposeAsync().ConfigureAwait(false);
        }

        await _onDispose(this).ConfigureAwait(false);
    }

    internal bool Matches(string topic) =>
        Unfiltered || (IsPattern ? Topics.Glob.IsMatch(Topic, topic) : string.Equals(Topic, topic, StringComparison.Ordinal));

    internal static QueueSpec Spec(ExchangeKind exchange, string pattern, string? group, int maxLength, int prefetch, bool singleConsumer = false) =>
        new(exchange, pattern, group, maxLength, prefetch, singleConsumer);
}
