using OpenTelemetry.Trace;

namespace Trellis.Hosting.Telemetry;

/// <summary>Decides whether a trace that starts in this process (a span with no parent) is recorded: a share of them
/// (<see cref="TelemetryOptions.SampleRatio"/>, by trace id), and of those at most
/// <see cref="TelemetryOptions.MaxTracesPerSecond"/> each second. A span with a parent follows its parent's decision
/// (<see cref="ParentBasedSampler"/> around this one), so a trace started upstream is recorded or not as a whole.</summary>
/// <remarks>The limit is a token bucket holding one second's worth of traces, refilled as time passes (the generic cell
/// rate algorithm: one timestamp, moved forward by a compare-and-swap per trace taken). Under the limit every new trace
/// is recorded, as a process with little traffic should; above it the cost of recording stays that of the limit however
/// fast requests come. A trace not recorded still carries its context (<c>traceparent</c> with the sampled flag off) to
/// every process it reaches. With a ratio of 1 and no limit every new trace is recorded, with neither the ratio's
/// arithmetic on the trace id nor the clock read.</remarks>
public sealed class NewTraceSampler : Sampler
{
    private static readonly SamplingResult Record = new(SamplingDecision.RecordAndSample);
    private static readonly SamplingResult Drop = new(SamplingDecision.Drop);

    private readonly TraceIdRatioBasedSampler? _ratio;
    private readonly TimeProvider _time;
    private readonly long _interval;
    private readonly long _burst;
    private long _due;

    /// <param name="sampleRatio">The share of new traces considered, 0 to 1.</param>
    /// <param name="maxPerSecond">At most this many recorded each second; 0 for no limit.</param>
    /// <param name="time">The clock (the system's by default).</param>
    public NewTraceSampler(double sampleRatio, int maxPerSecond, TimeProvider? time = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(sampleRatio, 0);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(sampleRatio, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(maxPerSecond);
        _ratio = sampleRatio < 1 ? new TraceIdRatioBasedSampler(sampleRatio) : null;
        _time = time ?? TimeProvider.System;
        _interval = maxPerSecond == 0 ? 0 : Math.Max(1, _time.TimestampFrequency / maxPerSecond);
        _burst = _time.TimestampFrequency;
        Description = $"NewTraceSampler{{ratio={sampleRatio}, max={maxPerSecond}/s}}";
    }

    public override SamplingResult ShouldSample(in SamplingParameters samplingParameters)
    {
        if (_ratio is not null && _ratio.ShouldSample(samplingParameters).Decision == SamplingDecision.Drop)
        {
            return Drop;
        }

        return _interval == 0 || TryTake() ? Record : Drop;
    }

    /// <summary>Takes one trace from the bucket: true while fewer than a second's worth are due.</summary>
    private bool TryTake()
    {
        var now = _time.GetTimestamp();
        while (true)
        {
            var due = Volatile.Read(ref _due);
            var next = Math.Max(due, now) + _interval;
            if (next - now > _burst)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _due, next, due) == due)
            {
                return true;
            }
        }
    }
}
