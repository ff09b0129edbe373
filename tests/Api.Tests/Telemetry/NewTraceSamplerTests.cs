using System.Diagnostics;
using OpenTelemetry.Trace;
using Trellis.Hosting.Telemetry;

namespace Trellis.Api.Tests.Telemetry;

/// <summary>Which new traces a process records: a share of them by trace id, at most so many a second, while a span
/// with a parent follows its parent's decision whatever the limit.</summary>
public sealed class NewTraceSamplerTests
{
    [Fact]
    public void Under_the_limit_every_new_trace_is_recorded_and_past_it_none_until_time_passes()
    {
        var clock = new ManualClock();
        var sampler = new NewTraceSampler(1.0, 10, clock);

        Assert.Equal(10, Recorded(sampler, 25));

        // A tenth of a second refills one trace, a whole second all ten.
        clock.Advance(TimeSpan.FromMilliseconds(100));
        Assert.Equal(1, Recorded(sampler, 5));
        clock.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(10, Recorded(sampler, 25));
    }

    [Fact]
    public void Without_a_limit_the_ratio_alone_decides()
    {
        Assert.Equal(1000, Recorded(new NewTraceSampler(1.0, 0, new ManualClock()), 1000));
        Assert.Equal(0, Recorded(new NewTraceSampler(0.0, 0, new ManualClock()), 1000));

        // A quarter by trace id: random ids, so a wide margin.
        var quarter = Recorded(new NewTraceSampler(0.25, 0, new ManualClock()), 4000);
        Assert.InRange(quarter, 800, 1200);
    }

    [Fact]
    public void The_limit_counts_only_the_traces_the_ratio_let_through()
    {
        // Half of 400 new traces pass the ratio, of which the limit keeps 50.
        Assert.Equal(50, Recorded(new NewTraceSampler(0.5, 50, new ManualClock()), 400));
    }

    [Fact]
    public void A_span_with_a_parent_follows_its_parent_past_the_limit()
    {
        var sampler = new ParentBasedSampler(new NewTraceSampler(1.0, 1, new ManualClock()));
        Assert.Equal(1, Recorded(sampler, 3));

        var sampled = new ActivityContext(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded, isRemote: true);
        var unsampled = new ActivityContext(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.None, isRemote: true);
        Assert.Equal(SamplingDecision.RecordAndSample, Decide(sampler, sampled).Decision);
        Assert.Equal(SamplingDecision.Drop, Decide(sampler, unsampled).Decision);
    }

    [Fact]
    public void Its_arguments_are_checked()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new NewTraceSampler(1.5, 10));
        Assert.Throws<ArgumentOutOfRangeException>(() => new NewTraceSampler(-0.1, 10));
        Assert.Throws<ArgumentOutOfRangeException>(() => new NewTraceSampler(1.0, -1));
    }

    /// <summary>How many of <paramref name="count"/> new traces <paramref name="sampler"/> records, at one instant.</summary>
    private static int Recorded(Sampler sampler, int count) =>
        Enumerable.Range(0, count).Count(_ => Decide(sampler, default).Decision == SamplingDecision.RecordAndSample);

    private static SamplingResult Decide(Sampler sampler, ActivityContext parent) =>
        sampler.ShouldSample(new SamplingParameters(parent, parent == default ? ActivityTraceId.CreateRandom() : parent.TraceId, "GET /healthz", ActivityKind.Server));

    /// <summary>A clock that moves only when told.</summary>
    private sealed class ManualClock : TimeProvider
    {
        private long _now = 1_000_000;

        public override long TimestampFrequency => 1_000_000;

        public override long GetTimestamp() => _now;

        public void Advance(TimeSpan by) => _now += (long)(by.TotalSeconds * TimestampFrequency);
    }
}
