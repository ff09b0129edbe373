using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Trellis.Transport.RabbitMq.Internal;

/// <summary>Message counts of one operation by destination and error, kept as integers: the hot path is one lookup
/// by destination and an interlocked increment; the tags are made only when the meter is collected.</summary>
/// <remarks>Past <see cref="MaxDestinations"/> destinations further ones are counted together under
/// <c>otel.metric.overflow</c>, as the SDK does past its cardinality limit.</remarks>
internal sealed class MessageCounts(string operation, string type, int maxDestinations = MessageCounts.MaxDestinations)
{
    /// <summary>Destinations counted apart, as many as the SDK keeps tag sets of one metric by default.</summary>
    public const int MaxDestinations = 2000;

    private readonly ConcurrentDictionary<string, Count> _ok = new();
    private readonly ConcurrentDictionary<(string Destination, string Error), Count> _failed = new();
    private readonly Count _overflow = new();
    private int _keys;

    /// <summary>Counts a message to or from <paramref name="destination"/>, failed with <paramref name="error"/> when not null.</summary>
    public void Add(string destination, string? error)
    {
        var count = error is null
            ? _ok.TryGetValue(destination, out var ok) ? ok : Create(_ok, destination)
            : _failed.TryGetValue((destination, error), out var failed) ? failed : Create(_failed, (destination, error));
        Interlocked.Increment(ref count.Value);
    }

    private Count Create<TKey>(ConcurrentDictionary<TKey, Count> counts, TKey key)
        where TKey : notnull
    {
        if (Volatile.Read(ref _keys) >= maxDestinations)
        {
            return counts.TryGetValue(key, out var existing) ? existing : _overflow;
        }

        var fresh = new Count();
        if (counts.TryAdd(key, fresh))
        {
            Interlocked.Increment(ref _keys);
            return fresh;
        }

        return counts[key];
    }

    /// <summary>The counts as measurements with their tags, for the observable counter's callback.</summary>
    public IEnumerable<Measurement<long>> Observe()
    {
        var measurements = new List<Measurement<long>>(_ok.Count + _failed.Count + 1);
        foreach (var (destination, count) in _ok)
        {
            measurements.Add(new Measurement<long>(Volatile.Read(ref count.Value), RabbitMqMetrics.Tags(operation, type, destination, null)));
        }

        foreach (var ((destination, error), count) in _failed)
        {
            measurements.Add(new Measurement<long>(Volatile.Read(ref count.Value), RabbitMqMetrics.Tags(operation, type, destination, error)));
        }

        if (Volatile.Read(ref _overflow.Value) is > 0 and var overflow)
        {
            measurements.Add(new Measurement<long>(overflow, new KeyValuePair<string, object?>("otel.metric.overflow", true)));
        }

        return measurements;
    }

    private sealed class Count
    {
        public long Value;
    }
}
