using System.Diagnostics.Metrics;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using Trellis.Core.Diagnostics;
using Trellis.Hosting.Telemetry;

namespace Trellis.Api.Tests.Telemetry;

/// <summary>How many series the meter provider of a Trellis process keeps per instrument: Orleans' and the runtime's
/// instruments a few hundred, after which measurements add up in one overflow series; Trellis' own the SDK's default.</summary>
public sealed class MeterStreamTests
{
    private const int Series = 300;

    [Fact]
    public void An_Orleans_instrument_keeps_a_few_hundred_series_and_adds_the_rest_up_in_an_overflow_series()
    {
        // A meter of Orleans' name: the provider picks instruments by their meter's name, as it does Orleans' own.
        var points = CountSeries(TelemetryRegistration.OrleansMeter, "grain_type");

        var overflow = points.Where(IsOverflow).ToArray();
        var tagged = points.Where(p => !IsOverflow(p)).ToArray();
        Assert.InRange(tagged.Length, TelemetryRegistration.FewSeries - 2, TelemetryRegistration.FewSeries);
        Assert.Single(overflow);
        Assert.Equal(Series, points.Sum(static p => p.GetSumLong()));
    }

    [Fact]
    public void A_Trellis_instrument_keeps_a_series_per_topic()
    {
        var points = CountSeries(TrellisTelemetry.Name, "trellis.topic");

        Assert.Equal(Series, points.Length);
        Assert.DoesNotContain(points, IsOverflow);
    }

    /// <summary>Counts once for each of <see cref="Series"/> values of <paramref name="tag"/> on a new counter of a meter
    /// named <paramref name="meterName"/>, with a provider made as a Trellis process makes its own, and returns the
    /// counter's points.</summary>
    private static MetricPoint[] CountSeries(string meterName, string tag)
    {
        using var meter = new Meter(meterName);
        var name = $"test-{Guid.NewGuid():N}";
        var counter = meter.CreateCounter<long>(name);
        var exported = new List<MetricSnapshot>();
        using var provider = Sdk.CreateMeterProviderBuilder().AddTrellisMeters().AddInMemoryExporter(exported).Build();
        for (var i = 0; i < Series; i++)
        {
            counter.Add(1, new KeyValuePair<string, object?>(tag, $"v{i}"));
        }

        Assert.True(provider.ForceFlush());

        var points = exported.First(m => m.Name == name).MetricPoints.ToArray();
        Assert.NotEmpty(points);
        return points;
    }

    private static bool IsOverflow(MetricPoint point)
    {
        foreach (var tag in point.Tags)
        {
            if (tag is { Key: "otel.metric.overflow", Value: true })
            {
                return true;
            }
        }

        return false;
    }
}
