using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using Trellis.Core.Diagnostics;

namespace Trellis.Bench.Telemetry;

/// <summary>The floor of a request's telemetry on one thread, no I/O (<c>--floor</c>): a span as ASP.NET Core's server
/// span is (six tags at start, three at the end), a child consumer span through <see cref="MessagingTracing"/>, and
/// histogram measurements with three and five tags, each timed alone with the SDK listening, against the same loop with
/// nothing listening.</summary>
internal static class TelemetryFloor
{
    private const int Count = 400_000;

    public static void Print(Func<IDisposable> on)
    {
        using var server = new ActivitySource("Trellis.Bench.Server");
        using var meter = new Meter("Trellis.Bench.Floor");
        var fiveTags = meter.CreateHistogram<double>("bench.five", "s");
        var threeTags = meter.CreateHistogram<double>("bench.three", "s");
        var steps = new (string Name, Action Step)[]
        {
            ("server span (9 tags)", () =>
            {
                using var activity = server.StartActivity("POST", ActivityKind.Server);
                if (activity is { IsAllDataRequested: true })
                {
                    activity.AddTag("server.address", "127.0.0.1");
                    activity.AddTag("server.port", 8080);
                    activity.AddTag("http.request.method", "POST");
                    activity.AddTag("user_agent.original", "wrk");
                    activity.AddTag("url.scheme", "http");
                    activity.AddTag("url.path", "/request/abc");
                    activity.AddTag("http.response.status_code", BusMetrics.CodeTag(200));
                    activity.AddTag("http.route", "/request/{id}");
                    activity.DisplayName = "POST /request/{id}";
                }
            }),
            ("consumer span (6 tags)", () =>
            {
                var activity = MessagingTracing.StartProcess(MessagingTracing.TrellisSystem, "bench.echo", Activity.Current?.Context ?? default, "_default");
                MessagingTracing.Finish(activity, 200);
            }),
            ("histogram, 3 tags", () => threeTags.Record(0.001, new TagList { { "trellis.topic", "bench.echo" }, { "trellis.group", "_default" }, { "trellis.code", BusMetrics.CodeTag(200) } })),
            ("histogram, 5 tags", () => fiveTags.Record(0.001, new TagList
            {
                { "http.request.method", "POST" }, { "url.scheme", "http" }, { "network.protocol.version", "1.1" }, { "http.route", "/request/{id}" }, { "http.response.status_code", BusMetrics.CodeTag(200) },
            })),
        };

        Console.WriteLine($"Telemetry floor: ns per step on one thread, {Count:N0} steps, best of 3 (off: nothing listening)");
        foreach (var (name, step) in steps)
        {
            // Both paths once first, so that neither side's figure pays for compiling its code.
            using (Extra(on(), server.Name, meter.Name))
            {
                Best(step);
            }

            Best(step);
            var off = Best(step);
            double onNs;
            using (Extra(on(), server.Name, meter.Name))
            {
                onNs = Best(step);
            }

            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Telemetry floor   {name}: off {off:0} ns, on {onNs:0} ns"));
        }
    }

    /// <summary>The Trellis providers plus ones for the bench's own stand-ins of ASP.NET Core's source and meter.</summary>
    private static IDisposable Extra(IDisposable trellis, string source, string meter)
    {
        var tracer = Sdk.CreateTracerProviderBuilder().AddSource(source)
            .AddProcessor(new BatchActivityExportProcessor(new TelemetryCost.DroppingExporter<Activity>())).Build();
        var meters = Sdk.CreateMeterProviderBuilder().AddMeter(meter)
            .AddReader(new PeriodicExportingMetricReader(new TelemetryCost.DroppingExporter<Metric>(), 60_000)).Build();
        return new TelemetryCost.Disposables(trellis, tracer, meters);
    }

    private static double Best(Action step)
    {
        var best = double.MaxValue;
        for (var run = 0; run < 3; run++)
        {
            var watch = Stopwatch.StartNew();
            for (var i = 0; i < Count; i++)
            {
                step();
            }

            best = Math.Min(best, watch.Elapsed.TotalNanoseconds / Count);
        }

        return best;
    }
}
