using System.Text.Json.Serialization;
using Trellis.Core.Messaging;

namespace Trellis.Core.Bus;

/// <summary>One error as reported on the error channel (Gilmour's error packet, snake_case on the wire).</summary>
public sealed record ErrorReport(
    [property: JsonPropertyName("code")] int Code,
    [property: JsonPropertyName("topic")] string Topic,
    [property: JsonPropertyName("sender")] string Sender,
    [property: JsonPropertyName("request_data")] JsonPayload RequestData,
    [property: JsonPropertyName("user_data")] JsonPayload UserData,
    [property: JsonPropertyName("timestamp")] DateTimeOffset Timestamp,
    [property: JsonPropertyName("origin")] string Origin);

/// <summary>The bounded queue of the last errors seen by this process; the oldest fall off.</summary>
public sealed class ErrorQueue
{
    private readonly ErrorReport?[] _ring;
    private readonly Lock _lock = new();
    private long _total;

    public ErrorQueue(int capacity) => _ring = new ErrorReport?[capacity];

    public int Capacity => _ring.Length;

    /// <summary>Errors ever added (not only those still held).</summary>
    public long Total => Interlocked.Read(ref _total);

    public void Add(ErrorReport report)
    {
        lock (_lock)
        {
            _ring[_total % _ring.Length] = report;
            _total++;
        }
    }

    /// <summary>The held errors, newest first.</summary>
    public IReadOnlyList<ErrorReport> Snapshot(int max = int.MaxValue)
    {
        lock (_lock)
        {
            var count = (int)Math.Min(Math.Min(_total, _ring.Length), max);
            var result = new List<ErrorReport>(count);
            for (var i = 0; i < count; i++)
            {
                result.Add(_ring[(_total - 1 - i) % _ring.Length]!);
            }

            return result;
        }
    }
}
