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
        using var orleans = new Meter(TelemetryRegistration.OrleansMeter);
        var name = $"test-{Guid.NewGuid():N}";
        var counter = orleans.CreateCounter<long>(name);

        var points = Export(name, () =>
        {
            for (var i = 0; i < Series; i++)
            {
                counter.Add(1, new KeyValuePair<string, object?>("grain_type", $"g{i}"));
            }
        });

        var overflow = points.Where(IsOverflow).ToArray();
        var tagged = points.Where(p => !IsOverflow(p)).ToArray();
        Assert.InRange(tagged.Length, TelemetryRegistration.FewSeries - 2, TelemetryRegistration.FewSeries);
        Assert.Single(overflow);
        Assert.Equal(Series, points.Sum(static p => p.GetSumLong()));
    }

    [Fact]
    public void A_Trellis_instrument_keeps_a_series_per_topic()
    {
        using var trellis = new Meter(TrellisTelemetry.Name);
        var name = $"test-{Guid.NewGuid():N}";
        var counter = trellis.CreateCounter<long>(name);

        var points = Export(name, () =>
        {
            for (var i = 0; i < Series; i++)
            {
                counter.Add(1, new KeyValuePair<string, object?>("trellis.topic", $"t{i}"));
            }
        });

        Assert.Equal(Series, points.Length);
        Assert.DoesNotContain(points, IsOverflow);
    }

    /// <summary>Measures with a provider made as a Trellis process makes its own, and returns the points of the
    /// instrument <paramref name="name"/>.</summary>
    private static MetricPoint[] Export(string name, Action measure)
    {
        var exported = new List<MetricSnapshot>();
        using var provider = Sdk.CreateMeterProviderBuilder().AddTrellisMeters().AddInMemoryExporter(exported).Build();
        measure();
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
