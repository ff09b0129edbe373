using System.Collections.Concurrent;
using System.Diagnostics;
using Trellis.Core.Messaging;
using Trellis.Storage.Streams;
using Trellis.Storage.Tests.Support;
using Xunit;

namespace Trellis.Storage.Tests.Streams;

/// <summary>Three silos; the one holding the queue's pulling agent is cut off the database and killed while a client publishes.</summary>
[Collection(SiloCollection.Name)]
public sealed class SiloKillTests
{
    private static readonly TimeSpan DeliveryWait = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task Every_acknowledged_event_reaches_the_client_after_the_queue_owner_is_killed()
    {
        var output = TestContext.Current.TestOutputHelper;
        await using var database = await PostgresDatabase.CreateAsync();
        var visibility = TimeSpan.FromSeconds(5);
        await using var cluster = await StreamCluster.StartAsync(database.ConnectionString, silos: 3, options => options.VisibilityTimeout = visibility);
        var stream = cluster.Stream($"kill-{Guid.NewGuid():N}");
        var deliveries = new Deliveries();
        await stream.SubscribeAsync(deliveries);

        var acknowledged = new ConcurrentQueue<long>();
        var publishFailures = 0;
        using var stop = new CancellationTokenSource();
        var producer = Task.Run(async () =>
        {
            // One producer, each event awaited: its number is acknowledged once OnNextAsync returns (the row is committed).
            // A failed publish is retried under the same number, so a repeat is possible and a hole is not.
            for (long n = 1; !stop.IsCancellationRequested; n++)
            {
                while (true)
                {
                    try
                    {
                        await stream.OnNextAsync(new StreamFact(n, Stopwatch.GetTimestamp()));
                        acknowledged.Enqueue(n);
                        break;
                    }
                    catch (Exception) when (!stop.IsCancellationRequested)
                    {
                        Interlocked.Increment(ref publishFailures);
                    }
                }

                await Task.Delay(5);
            }
        });

        await deliveries.WaitForAllAsync([.. Enumerable.Range(1, 100).Select(static n => (long)n)], DeliveryWait, "first 100 events before the kill");
        var owner = await cluster.QueueOwnerAsync(TimeSpan.FromSeconds(30));
        var lastBeforeKill = deliveries.All.Max(static d => d.Number);
        var killedAt = Stopwatch.GetTimestamp();
        await cluster.KillAsync(owner);
        var killTook = Stopwatch.GetElapsedTime(killedAt);
        var survivor = await cluster.QueueOwnerAsync(TimeSpan.FromSeconds(60));

        // Keep publishing for a while after the queue moved, then stop and wait for every acknowledged number.
        await Task.Delay(TimeSpan.FromSeconds(3));
        await stop.CancelAsync();
        await producer;
        var published = acknowledged.ToArray();
        await deliveries.WaitForAllAsync(published, DeliveryWait, $"all {published.Length} acknowledged events after killing {owner.Name}");

        // What the killed silo had read but not confirmed comes back once its visibility timeout passed: wait to count it.
        await Task.Delay(visibility + TimeSpan.FromSeconds(2));

        var all = deliveries.All;
        var afterKill = all.Where(d => d.ReceivedAt > killedAt).ToList();
        var firstNew = afterKill.FirstOrDefault(d => d.Number > lastBeforeKill);
        // Replay what a watcher sees: on a gap it is kicked and starts again from the event that revealed the gap.
        var detector = new StreamGapDetector();
        var seen = new HashSet<long>();
        int repeats = 0, kicks = 0;
        var late = new List<Delivery>();
        foreach (var delivery in all)
        {
            if (!seen.Add(delivery.Number))
            {
                repeats++;
            }
            else if (delivery.Number < seen.Max())
            {
                late.Add(delivery);
            }

            if (detector.Observe(delivery.Number) == SequenceVerdict.Gap)
            {
                kicks++;
                output?.WriteLine($"gap: {delivery.Number} (token {delivery.Token}) arrived after {detector.Last}; the watcher is kicked");
                detector = new StreamGapDetector(delivery.Number);
            }
        }

        output?.WriteLine($"killed {owner.Name} (queue owner) after event {lastBeforeKill}; kill took {killTook.TotalMilliseconds:0} ms; queue now read by {survivor.Name}");
        output?.WriteLine($"published {published.Length} (acknowledged), {publishFailures} failed publishes retried; delivered {all.Count}, {all.Select(static d => d.Number).Distinct().Count()} distinct, {repeats} repeats, {kicks} watcher kicks");
        output?.WriteLine($"late (older than one already delivered): {string.Join(", ", late.Select(static d => $"{d.Number} after {d.Latency.TotalMilliseconds:0} ms"))}");
        output?.WriteLine($"kill -> first delivery: {Ms(afterKill.FirstOrDefault())}; kill -> first event newer than {lastBeforeKill}: {Ms(firstNew)}");
        output?.WriteLine($"tokens after the kill: {string.Join(' ', afterKill.Take(12).Select(static d => $"{d.Number}@{d.Token}"))} ...");
        cluster.Errors.WriteTo(output);

        Assert.Equal(published.Length, published.Distinct().Count());
        Assert.All(published, n => Assert.Contains(all, d => d.Number == n));
        Assert.Equal(published.Max(), all.Max(static d => d.Number));

        string Ms(Delivery? delivery)
            => delivery is { } d ? $"{Stopwatch.GetElapsedTime(killedAt, d.ReceivedAt).TotalMilliseconds:0} ms (event {d.Number})" : "none";
    }
}
