using Trellis.Transport.RabbitMq.Internal;
using Xunit;

namespace Trellis.Transport.RabbitMq.Tests;

public sealed class MessageCountsTests
{
    [Fact]
    public void Counts_from_many_threads_are_reported_by_destination_and_error_with_their_tags()
    {
        var counts = new MessageCounts("publish", "send");
        Parallel.For(0, 40_000, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
            counts.Add(i % 2 == 0 ? "requests" : "amq.default", i % 1000 == 0 ? "unroutable" : null));

        var measured = counts.Observe().ToDictionary(
            static m => $"{Tag(m, "messaging.destination.name")}/{Tag(m, "error.type") ?? "ok"}",
            static m => m.Value);
        Assert.Equal(new Dictionary<string, long> { ["requests/ok"] = 19_960, ["requests/unroutable"] = 40, ["amq.default/ok"] = 20_000 }, measured);
        var one = counts.Observe().First();
        Assert.Equal("rabbitmq", Tag(one, "messaging.system"));
        Assert.Equal("publish", Tag(one, "messaging.operation.name"));
        Assert.Equal("send", Tag(one, "messaging.operation.type"));
    }

    [Fact]
    public void Past_the_limit_new_destinations_are_counted_together_as_overflow()
    {
        var counts = new MessageCounts("deliver", "process", maxDestinations: 2);
        foreach (var queue in new[] { "a", "b", "c", "d", "a", "c" })
        {
            counts.Add(queue, error: null);
        }

        var measured = counts.Observe().ToList();
        Assert.Equal(2, measured.Single(m => Tag(m, "messaging.destination.name") == "a").Value);
        Assert.Equal(1, measured.Single(m => Tag(m, "messaging.destination.name") == "b").Value);
        var overflow = measured.Single(static m => m.Tags.ToArray().Any(static t => t.Key == "otel.metric.overflow"));
        Assert.Equal(3, overflow.Value);
        Assert.Equal(3, measured.Count);
    }

    private static string? Tag(System.Diagnostics.Metrics.Measurement<long> measurement, string key) =>
        measurement.Tags.ToArray().FirstOrDefault(t => t.Key == key).Value as string;
}
