using System.Diagnostics.Metrics;
using System.Globalization;
using Trellis.Core.Diagnostics;

namespace Trellis.Api.Console.Internal;

/// <summary>Request rates, errors and latency per topic and group, from <see cref="TrellisTelemetry.RequestDuration"/>, and
/// this process's Orleans counters, from the <c>Microsoft.Orleans</c> meter; read with a <see cref="MeterListener"/> that
/// exists only between <see cref="Start"/> and <see cref="Stop"/> (while someone watches the console).</summary>
internal sealed class ConsoleMetrics : IDisposable
{
    /// <summary>The meter Orleans 10 publishes its silo counters on.</summary>
    public const string OrleansMeter = "Microsoft.Orleans";

    private static int s_listeners;

    private readonly Lock _lock = new();
    private readonly Dictionary<(string Topic, string Group), TopicStats> _topics = [];
    private readonly Dictionary<string, double> _orleansSums = new(StringComparer.Ordinal);
    private readonly Dictionary<string, double> _orleansObserved = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _orleansUnits = new(StringComparer.Ordinal);
    private MeterListener? _listener;

    /// <summary>Listeners of the console open in this process (tests check that none is left once nobody watches).</summary>
    public static int ActiveListeners => Volatile.Read(ref s_listeners);

    public bool Listening => _listener is not null;

    /// <summary>Starts listening; the instruments record into this object until <see cref="Stop"/>.</summary>
    public void Start()
    {
        if (_listener is not null)
        {
            return;
        }

        var listener = new MeterListener
        {
            InstrumentPublished = static (instrument, l) =>
            {
                // By name: this may run while TrellisTelemetry's fields are being initialised (RequestDuration still null).
                if ((instrument.Meter.Name == TrellisTelemetry.Name && instrument.Name == TrellisTelemetry.RequestDurationName) ||
                    instrument.Meter.Name == OrleansMeter)
                {
                    l.EnableMeasurementEvents(instrument, l);
                }
            },
        };
        listener.SetMeasurementEventCallback<double>((i, v, tags, _) => OnMeasurement(i, v, tags));
        listener.SetMeasurementEventCallback<float>((i, v, tags, _) => OnMeasurement(i, v, tags));
        listener.SetMeasurementEventCallback<long>((i, v, tags, _) => OnMeasurement(i, v, tags));
        listener.SetMeasurementEventCallback<int>((i, v, tags, _) => OnMeasurement(i, v, tags));
        _listener = listener;
        Interlocked.Increment(ref s_listeners);
        listener.Start();
    }

    /// <summary>Stops listening and forgets every figure.</summary>
    public void Stop()
    {
        if (Interlocked.Exchange(ref _listener, null) is not { } listener)
        {
            return;
        }

        listener.Dispose();
        Interlocked.Decrement(ref s_listeners);
        lock (_lock)
        {
            _topics.Clear();
            _orleansSums.Clear();
            _orleansObserved.Clear();
        }
    }

    public void Dispose() => Stop();

    /// <summary>The figures since the previous call over <paramref name="elapsed"/>, topics sorted by name; starts a new
    /// window.</summary>
    public MetricsSnapshot Collect(TimeSpan elapsed)
    {
        _listener?.RecordObservableInstruments();
        var seconds = Math.Max(elapsed.TotalSeconds, 0.001);
        lock (_lock)
        {
            var topics = new List<TopicRate>(_topics.Count);
            foreach (var ((topic, group), stats) in _topics)
            {
                if (stats.Window.Count > 0)
                {
                    stats.P50 = stats.Window.Quantile(0.5);
                    stats.P99 = stats.Window.Quantile(0.99);
                }

                topics.Add(new TopicRate(
                    topic, group, stats.Window.Count / seconds, stats.WindowErrors / seconds, stats.Total, stats.TotalErrors, stats.P50, stats.P99));
                stats.Window.Clear();
                stats.WindowErrors = 0;
            }

            topics.Sort(static (a, b) => string.CompareOrdinal(a.Topic, b.Topic) is var c and not 0 ? c : string.CompareOrdinal(a.Group, b.Group));
            var orleans = new SortedDictionary<string, OrleansCounter>(StringComparer.Ordinal);
            foreach (var (name, value) in _orleansSums)
            {
                orleans[name] = new OrleansCounter(name, value, _orleansUnits.GetValueOrDefault(name));
            }

            foreach (var (name, value) in _orleansObserved)
            {
                orleans[name] = new OrleansCounter(name, value, _orleansUnits.GetValueOrDefault(name));
            }

            _orleansObserved.Clear();
            return new MetricsSnapshot(topics, [.. orleans.Values]);
        }
    }

    private void OnMeasurement<T>(Instrument instrument, T value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        where T : struct, IConvertible
    {
        var number = value.ToDouble(CultureInfo.InvariantCulture);
        if (ReferenceEquals(instrument, TrellisTelemetry.RequestDuration))
        {
            RecordRequest(number, tags);
            return;
        }

        lock (_lock)
        {
            _orleansUnits.TryAdd(instrument.Name, instrument.Unit ?? "");
            if (instrument.IsObservable)
            {
                // One collection reports every tag set of the instrument: their sum is the figure.
                _orleansObserved[instrument.Name] = _orleansObserved.GetValueOrDefault(instrument.Name) + number;
            }
            else if (instrument is Histogram<T>)
            {
                // A histogram's count says how often it happened; the durations themselves are Orleans' business.
                _orleansSums[instrument.Name + ".count"] = _orleansSums.GetValueOrDefault(instrument.Name + ".count") + 1;
            }
            else
            {
                _orleansSums[instrument.Name] = _orleansSums.GetValueOrDefault(instrument.Name) + number;
            }
        }
    }

    private void RecordRequest(double seconds, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        string topic = "", group = "";
        var code = 200;
        foreach (var tag in tags)
        {
            switch (tag.Key)
            {
                case TrellisTelemetry.Tags.Topic:
                    topic = tag.Value?.ToString() ?? "";
                    break;
                case TrellisTelemetry.Tags.Group:
                    group = tag.Value?.ToString() ?? "";
                    break;
                case TrellisTelemetry.Tags.Code:
                    code = tag.Value switch
                    {
                        int i => i,
                        long l => (int)l,
                        string s when int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var parsed) => parsed,
                        _ => 200,
                    };
                    break;
            }
        }

        lock (_lock)
        {
            if (!_topics.TryGetValue((topic, group), out var stats))
            {
                stats = new TopicStats();
                _topics.Add((topic, group), stats);
            }

            stats.Window.Record(seconds);
            stats.Total++;
            if (code >= 300)
            {
                stats.WindowErrors++;
                stats.TotalErrors++;
            }
        }
    }

    private sealed class TopicStats
    {
        public LatencyHistogram Window { get; } = new();

        public long WindowErrors { get; set; }

        public long Total { get; set; }

        public long TotalErrors { get; set; }

        public double P50 { get; set; }

        public double P99 { get; set; }
    }
}

/// <summary>One topic and group's requests: rates over the last window, totals since the console started watching, and
/// the latency percentiles of the last window that had requests (seconds).</summary>
internal sealed record TopicRate(string Topic, string Group, double CallsPerSecond, double ErrorsPerSecond, long Total, long Errors, double P50, double P99);

/// <summary>One of this process's Orleans instruments: a running sum (counters, histogram counts) or a current value (gauges).</summary>
internal sealed record OrleansCounter(string Name, double Value, string? Unit);

/// <summary>What <see cref="ConsoleMetrics.Collect"/> returns.</summary>
internal sealed record MetricsSnapshot(IReadOnlyList<TopicRate> Topics, IReadOnlyList<OrleansCounter> Orleans);
