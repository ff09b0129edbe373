using Trellis.Api.Console.Internal;
using Trellis.Core.Diagnostics;

namespace Trellis.Api.Tests.Console;

/// <summary>The console's aggregation of the shared request instrument: rates, errors and percentiles per topic and group,
/// and nothing recorded while it does not listen.</summary>
public sealed class ConsoleMetricsTests
{
    private static string NewTopic() => $"console.metrics.{Guid.NewGuid():N}";

    private static void Record(string topic, string group, int code, double seconds) =>
        TrellisTelemetry.RequestDuration.Record(seconds,
            new KeyValuePair<string, object?>(TrellisTelemetry.Tags.Topic, topic),
            new KeyValuePair<string, object?>(TrellisTelemetry.Tags.Group, group),
            new KeyValuePair<string, object?>(TrellisTelemetry.Tags.Code, code));

    [Fact]
    public void Requests_recorded_into_the_instrument_become_rates_errors_and_percentiles_per_topic_and_group()
    {
        var topic = NewTopic();
        using var metrics = new ConsoleMetrics();
        metrics.Start();
        for (var i = 1; i <= 100; i++)
        {
            Record(topic, "workers", i <= 10 ? 500 : 200, i / 1000.0);   // 1 ms … 100 ms
        }

        Record(topic, "others", 200, 0.5);
        var snapshot = metrics.Collect(TimeSpan.FromSeconds(2));
        var workers = Assert.Single(snapshot.Topics, t => t.Topic == topic && t.Group == "workers");
        Assert.Equal(50, workers.CallsPerSecond, 3);
        Assert.Equal(5, workers.ErrorsPerSecond, 3);
        Assert.Equal(100, workers.Total);
        Assert.Equal(10, workers.Errors);
        Assert.InRange(workers.P50, 0.050 * 0.92, 0.050 * 1.08);
        Assert.InRange(workers.P99, 0.099 * 0.92, 0.099 * 1.08);
        var others = Assert.Single(snapshot.Topics, t => t.Topic == topic && t.Group == "others");
        Assert.Equal(1, others.Total);
        Assert.InRange(others.P99, 0.5 * 0.92, 0.5 * 1.08);

        // A quiet window: no calls now, totals and the last percentiles kept.
        var quiet = Assert.Single(metrics.Collect(TimeSpan.FromSeconds(1)).Topics, t => t.Topic == topic && t.Group == "workers");
        Assert.Equal(0, quiet.CallsPerSecond);
        Assert.Equal(100, quiet.Total);
        Assert.Equal(workers.P99, quiet.P99);
    }

    [Fact]
    public void Nothing_is_kept_before_start_or_after_stop()
    {
        var topic = NewTopic();
        using var metrics = new ConsoleMetrics();
        Record(topic, "g", 200, 0.01);
        Assert.False(metrics.Listening);
        Assert.DoesNotContain(metrics.Collect(TimeSpan.FromSeconds(1)).Topics, t => t.Topic == topic);

        metrics.Start();
        Assert.True(metrics.Listening);
        Record(topic, "g", 200, 0.01);
        metrics.Stop();
        Assert.False(metrics.Listening);
        Record(topic, "g", 200, 0.01);
        Assert.DoesNotContain(metrics.Collect(TimeSpan.FromSeconds(1)).Topics, t => t.Topic == topic);
    }

    [Fact]
    public void Percentiles_of_the_log_buckets_are_within_eight_percent()
    {
        var histogram = new LatencyHistogram();
        Assert.Equal(0, histogram.Quantile(0.5));
        foreach (var ms in new[] { 0.2, 3, 3, 3, 40, 700 })
        {
            histogram.Record(ms / 1000);
        }

        Assert.InRange(histogram.Quantile(0.5), 0.003, 0.003 * 1.08);
        Assert.InRange(histogram.Quantile(1), 0.7, 0.7 * 1.08);
        Assert.InRange(histogram.Quantile(0), 0.0002, 0.0002 * 1.08);
    }
}
