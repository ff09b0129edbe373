using System.Diagnostics;
using Trellis.Storage.Tests.Support;
using Xunit;

namespace Trellis.Storage.Tests.Streams;

/// <summary>
/// Rough figures for the README (one producer, one client subscriber, one silo, PostgreSQL on loopback). They are written
/// to the test output, never asserted: the test checks only that every event arrived once and in order.
/// </summary>
[Collection(SiloCollection.Name)]
public sealed class ThroughputTests
{
    [Fact]
    public async Task One_producer_to_one_client_subscriber_figures()
    {
        var output = TestContext.Current.TestOutputHelper;
        await using var database = await PostgresDatabase.CreateAsync();
        await using var cluster = await StreamCluster.StartAsync(database.ConnectionString, silos: 1);

        // Back to back: each publish awaited (one committed row per event), as one ordered producer would.
        const int Burst = 2000;
        var stream = cluster.Stream($"burst-{Guid.NewGuid():N}");
        var burst = new Deliveries();
        await stream.SubscribeAsync(burst);
        var started = Stopwatch.GetTimestamp();
        for (var n = 1; n <= Burst; n++)
        {
            await stream.OnNextAsync(new StreamFact(n, Stopwatch.GetTimestamp()));
        }

        var published = Stopwatch.GetElapsedTime(started);
        await burst.WaitForAllAsync([.. Enumerable.Range(1, Burst).Select(static n => (long)n)], TimeSpan.FromSeconds(120), $"{Burst} events back to back");
        var delivered = Stopwatch.GetElapsedTime(started, burst.All.Max(static d => d.ReceivedAt));
        Assert.Equal(Enumerable.Range(1, Burst).Select(static n => (long)n), burst.All.Select(static d => d.Number));

        // Paced: one event every 10 ms, so latency is the provider's, not a queue behind a burst.
        const int Paced = 300;
        var pacedStream = cluster.Stream($"paced-{Guid.NewGuid():N}");
        var paced = new Deliveries();
        await pacedStream.SubscribeAsync(paced);
        for (var n = 1; n <= Paced; n++)
        {
            await pacedStream.OnNextAsync(new StreamFact(n, Stopwatch.GetTimestamp()));
            await Task.Delay(10);
        }

        await paced.WaitForAllAsync([.. Enumerable.Range(1, Paced).Select(static n => (long)n)], TimeSpan.FromSeconds(60), $"{Paced} paced events");
        Assert.Equal(Enumerable.Range(1, Paced).Select(static n => (long)n), paced.All.Select(static d => d.Number));

        var burstLatency = burst.All.Select(static d => d.Latency.TotalMilliseconds).Order().ToArray();
        var pacedLatency = paced.All.Select(static d => d.Latency.TotalMilliseconds).Order().ToArray();
        output?.WriteLine($"back to back: {Burst} events published in {published.TotalMilliseconds:0} ms ({Burst / published.TotalSeconds:0}/s), all delivered after {delivered.TotalMilliseconds:0} ms ({Burst / delivered.TotalSeconds:0}/s); latency p50 {P(burstLatency, 0.5):0.0} ms, p99 {P(burstLatency, 0.99):0.0} ms");
        output?.WriteLine($"paced (10 ms): publish -> client p50 {P(pacedLatency, 0.5):0.0} ms, p90 {P(pacedLatency, 0.9):0.0} ms, p99 {P(pacedLatency, 0.99):0.0} ms, max {pacedLatency[^1]:0.0} ms");
        cluster.Errors.WriteTo(output);
        Assert.Empty(cluster.Errors.Errors);

        static double P(double[] sorted, double q) => sorted[Math.Min(sorted.Length - 1, (int)(q * sorted.Length))];
    }
}
