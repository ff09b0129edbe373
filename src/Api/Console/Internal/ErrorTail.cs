using System.Text.Json;
using Trellis.Core.Bus;
using Trellis.Core.Messaging;

namespace Trellis.Api.Console.Internal;

/// <summary>The error channel's latest reports, received by a slot on the bus's error topic that exists only while the
/// console is watched.</summary>
internal sealed class ErrorTail(int capacity)
{
    private const int MaxMessageChars = 300;

    private static int s_subscriptions;

    private readonly Lock _lock = new();
    private readonly Queue<ErrorLine> _lines = new();
    private Subscription? _subscription;
    private long _total;

    /// <summary>Error-channel subscriptions of the console open in this process.</summary>
    public static int ActiveSubscriptions => Volatile.Read(ref s_subscriptions);

    public bool Subscribed => Volatile.Read(ref _subscription) is not null;

    public long Total => Interlocked.Read(ref _total);

    public async Task StartAsync(MessageBus bus, string errorTopic, CancellationToken cancellationToken)
    {
        _subscription = await bus.SlotAsync(errorTopic, OnReport, cancellationToken: cancellationToken).ConfigureAwait(false);
        Interlocked.Increment(ref s_subscriptions);
    }

    public async Task StopAsync()
    {
        if (Interlocked.Exchange(ref _subscription, null) is { } subscription)
        {
            Interlocked.Decrement(ref s_subscriptions);
            await subscription.DisposeAsync().ConfigureAwait(false);
        }

        lock (_lock)
        {
            _lines.Clear();
        }

        Interlocked.Exchange(ref _total, 0);
    }

    /// <summary>The tail, newest first.</summary>
    public ErrorLine[] Lines()
    {
        lock (_lock)
        {
            var lines = _lines.ToArray();
            Array.Reverse(lines);
            return lines;
        }
    }

    private ValueTask OnReport(Signal signal, CancellationToken cancellationToken)
    {
        var line = Parse(signal.Data);
        Interlocked.Increment(ref _total);
        lock (_lock)
        {
            _lines.Enqueue(line);
            while (_lines.Count > capacity)
            {
                _lines.Dequeue();
            }
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>What the console shows of a report: code, topic, origin, time and the handler's message (shortened); never
    /// the request's data, which is the caller's business.</summary>
    internal static ErrorLine Parse(JsonPayload data)
    {
        try
        {
            var root = data.ToJsonElement();
            var message = root.TryGetProperty("user_data", out var user)
                ? user.ValueKind == JsonValueKind.String ? user.GetString() ?? "" : user.GetRawText()
                : "";
            return new ErrorLine(
                root.TryGetProperty("code", out var code) && code.TryGetInt32(out var c) ? c : 0,
                root.TryGetProperty("topic", out var topic) ? topic.GetString() ?? "" : "",
                root.TryGetProperty("origin", out var origin) ? origin.GetString() ?? "" : "",
                root.TryGetProperty("timestamp", out var time) && time.TryGetDateTimeOffset(out var t) ? t : null,
                message.Length <= MaxMessageChars ? message : string.Concat(message.AsSpan(0, MaxMessageChars), "…"));
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            return new ErrorLine(0, "", "", null, "an error report the console could not read");
        }
    }
}

/// <summary>One report of the error channel as the console shows it.</summary>
internal sealed record ErrorLine(int Code, string Topic, string Origin, DateTimeOffset? Time, string Message);
