using Trellis.Core.Messaging;
using Trellis.Core.Transport;

namespace Trellis.Core.Bus;

/// <summary>Handles one request; the returned message is the reply (code 200 unless it says otherwise).</summary>
public delegate ValueTask<Message> RequestHandler(Request request, CancellationToken cancellationToken);

/// <summary>Handles one signal.</summary>
public delegate ValueTask SignalHandler(Signal signal, CancellationToken cancellationToken);

/// <summary>Handles one durable message; returning acknowledges it, throwing gives it back.</summary>
public delegate ValueTask DurableHandler(DurableMessage message, CancellationToken cancellationToken);

/// <summary>A message of a durable subscription.</summary>
public sealed record DurableMessage(string Topic, JsonPayload Data, string MessageId, bool Redelivered);

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

    /// <summary>Set when the transport already filters exactly.</summary>
    internal bool Unfiltered { get; init; }

    internal DedupeWindow? Dedupe { get; init; }

    internal void Attach(IAsyncDisposable consumer) => _consumer = consumer;

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

    internal static QueueSpec Spec(ExchangeKind exchange, string pattern, string? group, int maxLength, int prefetch) =>
        new(exchange, pattern, group, maxLength, prefetch);
}
