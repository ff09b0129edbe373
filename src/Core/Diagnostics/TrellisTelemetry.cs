using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Trellis.Core.Diagnostics;

/// <summary>Trellis' own trace source and meter, both named <c>Trellis</c>, and the instruments more than one part of
/// the cluster records or reads (the bus records requests, the console reads them while someone watches).</summary>
/// <remarks>Everything here costs a flag check when nothing listens: instruments record only while a listener (the
/// OpenTelemetry SDK, the console) has enabled them, and the source starts activities only while one is sampled.</remarks>
public static class TrellisTelemetry
{
    /// <summary>The name of the activity source and of the meter.</summary>
    public const string Name = "Trellis";

    /// <summary>Tag keys of Trellis' own instruments and spans.</summary>
    public static class Tags
    {
        public const string Topic = "trellis.topic";
        public const string Group = "trellis.group";
        public const string Code = "trellis.code";
        public const string Node = "trellis.node";
        public const string Agent = "trellis.app.agent";
        public const string Result = "trellis.result";
        public const string State = "trellis.state";
        public const string Graph = "trellis.flow.graph";
        public const string Edge = "trellis.flow.edge";
        public const string Provider = "trellis.edge.provider";
    }

    private static readonly string? Version = typeof(TrellisTelemetry).Assembly.GetName().Version?.ToString();

    /// <summary>Spans of the bus, the proxy, apps, flows and the edge link.</summary>
    public static readonly ActivitySource Source = new(Name, Version);

    /// <summary>Trellis' own metrics.</summary>
    public static readonly Meter Meter = new(Name, Version);

    /// <summary>Span-name caches by operation.</summary>
    private static readonly ConcurrentDictionary<string, SpanNames> SpanNamesByOperation = new();

    /// <summary>The span-name cache of <paramref name="operation"/>; a caller with a fixed operation keeps it, so that
    /// a span's name is one lookup by its target.</summary>
    public static SpanNames SpanNamesOf(string operation) => SpanNamesByOperation.GetOrAdd(operation, static o => new SpanNames(o));

    /// <summary>The span name <c>{operation} {target}</c>, cached.</summary>
    public static string SpanName(string operation, string target) => SpanNamesOf(operation).Of(target);

    /// <summary>The name of <see cref="RequestDuration"/>: a listener started before this class is initialised sees the
    /// instrument published while the field is still null, so it must recognise it by name.</summary>
    public const string RequestDurationName = "trellis.request.duration";

    /// <summary>Requests handled in this process, by topic, group and code (seconds from delivery to reply).</summary>
    public static readonly Histogram<double> RequestDuration = Meter.CreateHistogram<double>(
        RequestDurationName, "s", "Requests handled by this process's services, from delivery to reply",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] });

    /// <summary>Signals delivered to this process's slots, by topic.</summary>
    public static readonly Counter<long> SignalsDelivered = Meter.CreateCounter<long>(
        "trellis.signal.deliveries", "{signal}", "Signals delivered to this process's slots");

    /// <summary>Reports published on the error channel by this process, by topic and code.</summary>
    public static readonly Counter<long> ErrorsReported = Meter.CreateCounter<long>(
        "trellis.errors", "{error}", "Reports this process published on the error channel");
}
