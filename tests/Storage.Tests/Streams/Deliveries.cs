using System.Diagnostics;
using Orleans.Streams;

namespace Trellis.Storage.Tests.Streams;

/// <summary>One event as a client subscriber received it: its number, its Orleans token and when it arrived.</summary>
public readonly record struct Delivery(long Number, long Token, long PublishedAt, long ReceivedAt)
{
    public TimeSpan Latency => Stopwatch.GetElapsedTime(PublishedAt, ReceivedAt);
}

/// <summary>An explicit subscriber that records every delivery, so a test can wait for numbers and check order and tokens.</summary>
public sealed class Deliveries : IAsyncObserver<StreamFact>
{
    private readonly Lock _lock = new();
    private readonly List<Delivery> _all = [];
    private readonly HashSet<long> _numbers = [];
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public IReadOnlyList<Delivery> All
    {
        get
        {
            lock (_lock)
            {
                return [.. _all];
            }
        }
    }

    public Task OnNextAsync(StreamFact item, StreamSequenceToken? token = null)
    {
        var delivery = new Delivery(item.Number, token?.SequenceNumber ?? -1, item.PublishedAt, Stopwatch.GetTimestamp());
        TaskCompletionSource changed;
        lock (_lock)
        {
            _all.Add(delivery);
            _numbers.Add(item.Number);
            changed = _changed;
            _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        changed.TrySetResult();
        return Task.CompletedTask;
    }

    public Task OnCompletedAsync() => Task.CompletedTask;

    public Task OnErrorAsync(Exception ex) => Task.CompletedTask;

    /// <summary>Waits until every number in <paramref name="numbers"/> arrived at least once.</summary>
    public async Task WaitForAllAsync(IReadOnlyCollection<long> numbers, TimeSpan timeout, string phase)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            Task changed;
            int missing;
            long firstMissing;
            lock (_lock)
            {
                var absent = numbers.Where(n => !_numbers.Contains(n)).ToList();
                missing = absent.Count;
                firstMissing = missing > 0 ? absent.Min() : 0;
                changed = _changed.Task;
            }

            if (missing == 0)
            {
                return;
            }

            var left = timeout - deadline.Elapsed;
            if (left <= TimeSpan.Zero)
            {
                throw new TimeoutException($"{phase}: expected all {numbers.Count} numbers within {timeout.TotalSeconds:0} s; {missing} missing, the first {firstMissing}; {All.Count} deliveries seen");
            }

            try
            {
                await changed.WaitAsync(left);
            }
            catch (TimeoutException)
            {
            }
        }
    }
}
