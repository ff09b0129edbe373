using System.Diagnostics;
using Trellis.Core.Messaging;
using Trellis.Storage.Streams;
using Trellis.Storage.Tests.Support;
using Xunit;

namespace Trellis.Storage.Tests.Streams;

/// <summary>Orleans' ADO.NET stream provider on PostgreSQL, set up by <see cref="PostgresStreamsExtensions"/>, delivering to a client.</summary>
[Collection(SiloCollection.Name)]
public sealed class PostgresStreamTests
{
    private static readonly TimeSpan DeliveryWait = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Events_reach_an_explicit_client_subscriber_in_order_with_increasing_tokens()
    {
        await using var database = await PostgresDatabase.CreateAsync();
        await using var cluster = await StreamCluster.StartAsync(database.ConnectionString, silos: 1);
        var stream = cluster.Stream($"order-{Guid.NewGuid():N}");
        var deliveries = new Deliveries();
        var subscription = await stream.SubscribeAsync(deliveries);

        const int Count = 300;
        for (var n = 1; n <= Count; n++)
        {
            await stream.OnNextAsync(new StreamFact(n, Stopwatch.GetTimestamp()));
        }

        await deliveries.WaitForAllAsync([.. Enumerable.Range(1, Count).Select(static n => (long)n)], DeliveryWait, "300 events to one client");
        var all = deliveries.All;
        Assert.Equal(Enumerable.Range(1, Count).Select(static n => (long)n), all.Select(static d => d.Number));
        for (var i = 1; i < all.Count; i++)
        {
            Assert.True(all[i].Token > all[i - 1].Token, $"token of event {all[i].Number} is {all[i].Token}, not after {all[i - 1].Token} of event {all[i - 1].Number}");
        }

        await subscription.UnsubscribeAsync();
        cluster.Errors.WriteTo(TestContext.Current.TestOutputHelper);
        Assert.Empty(cluster.Errors.Errors);
    }

    [Fact]
    public async Task Schema_is_applied_by_the_silo_and_the_pubsub_store_keeps_subscriptions_in_the_database()
    {
        await using var database = await PostgresDatabase.CreateAsync();
        await using var cluster = await StreamCluster.StartAsync(database.ConnectionString, silos: 1);
        var stream = cluster.Stream($"pubsub-{Guid.NewGuid():N}");
        var deliveries = new Deliveries();
        await stream.SubscribeAsync(deliveries);

        Assert.True(await database.ScalarAsync<bool>("SELECT EXISTS (SELECT 1 FROM OrleansQuery WHERE QueryKey = 'QueueStreamMessageKey')"));
        var stored = await database.ScalarAsync<string>("SELECT string_agg(GrainTypeString || ' ' || ServiceId, ', ') FROM OrleansStorage");
        TestContext.Current.TestOutputHelper?.WriteLine(stored);
        Assert.Contains("pubsub", stored, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task A_quiet_stream_confirms_its_events_and_does_not_repeat_them_after_the_visibility_timeout()
    {
        // A confirmed row is deleted; one left unconfirmed would be read again after each visibility timeout (1 s here).
        await using var database = await PostgresDatabase.CreateAsync();
        await using var cluster = await StreamCluster.StartAsync(database.ConnectionString, silos: 1, options => options.VisibilityTimeout = TimeSpan.FromSeconds(1));
        var stream = cluster.Stream($"quiet-{Guid.NewGuid():N}");
        var deliveries = new Deliveries();
        await stream.SubscribeAsync(deliveries);
        for (var n = 1; n <= 3; n++)
        {
            await stream.OnNextAsync(new StreamFact(n, Stopwatch.GetTimestamp()));
        }

        await deliveries.WaitForAllAsync([1, 2, 3], DeliveryWait, "3 events on a quiet stream");
        await Task.Delay(TimeSpan.FromSeconds(4));
        var all = deliveries.All;
        TestContext.Current.TestOutputHelper?.WriteLine($"3 events, {all.Count} deliveries in 4 s: {string.Join(' ', all.Select(static d => $"{d.Number}@{d.Token}"))}");
        TestContext.Current.TestOutputHelper?.WriteLine($"rows left: {await database.ScalarAsync<long>("SELECT count(*) FROM OrleansStreamMessage")}, dead letters: {await database.ScalarAsync<long>("SELECT count(*) FROM OrleansStreamDeadLetter")}");
        Assert.Equal([1, 2, 3], all.Select(static d => d.Number));
        Assert.Equal(0L, await database.ScalarAsync<long>("SELECT count(*) FROM OrleansStreamMessage"));
    }

    [Fact]
    public async Task Gap_detector_passes_the_next_number_drops_repeats_and_flags_gaps()
    {
        var detector = new StreamGapDetector();
        Assert.Equal(SequenceVerdict.Next, detector.Observe(1));
        Assert.Equal(SequenceVerdict.Next, detector.Observe(2));
        Assert.Equal(SequenceVerdict.Repeat, detector.Observe(2));
        Assert.Equal(SequenceVerdict.Repeat, detector.Observe(1));
        Assert.Equal(SequenceVerdict.Gap, detector.Observe(4));
        Assert.Equal(2, detector.Last);
        Assert.Equal(SequenceVerdict.Next, detector.Observe(3));
        await Task.CompletedTask;
    }
}
