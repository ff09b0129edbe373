using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using Trellis.Bench.Gateway;
using Trellis.Bench.RabbitMq;
using Trellis.Core.Diagnostics;
using Trellis.Hosting.Telemetry;

namespace Trellis.Bench.Telemetry;

/// <summary>
/// The cost of telemetry: P2 (request/reply over RabbitMQ) and P3 (the HTTP gateway, wrk at saturation) with tracing and
/// metrics on against off, in one run: P2 in rounds interleaved (on, off, off, on …), P3 in windows of one continuous
/// load with telemetry switched under it; the verdict is the median of the on/off ratios of rounds or pairs of windows.
/// </summary>
/// <remarks>
/// "On" is the real OpenTelemetry SDK listening to what a Trellis process records (TelemetryRegistration's
/// AddTrellisSources and AddTrellisMeters): a TracerProvider sampling new traces as a process does by default (at most
/// 100 a second; <c>--max-traces 0</c> for every one, <c>--sample-ratio</c> for a share) of the
/// Trellis, Orleans and ASP.NET Core sources, with a batch processor in front of an exporter that drops what it is given
/// (OTLP's serialisation and network are the collector's cost, not the process's); a MeterProvider on the Trellis,
/// Orleans, ASP.NET Core and runtime meters, collected every 2 s by a periodic reader. "Off" is no provider at all.
/// The providers are made and disposed around each round or window, so both sides run on the same process, connections
/// and JIT; both sides are warmed up until tiered compilation has settled.
/// Usage: <c>telemetry [amqp-uri] [--rounds N] [--peer-cpus LIST] [--telemetry-parts p2,p3] [--telemetry-only tracing|metrics|aspnet[-tracing|-metrics]|trellis[-tracing|-metrics]|raw-tracing|raw-metrics] [--telemetry-sides off,on,on/0,metrics,…] [--p3-concurrency 32] [--p3-profile on|off] [--sample-ratio R] [--max-traces N] [--alloc-types] [--census] [--floor]</c>; P2 needs a broker
/// (<c>TRELLIS_BENCH_RABBITMQ</c>, as p2), P3 nginx and wrk (scripts/bench-deps.sh).
/// </remarks>
public static class TelemetryCost
{
    /// <summary>The goal: at most this much slower with telemetry on.</summary>
    private const double Goal = 0.05;

    public static async Task<int> RunAsync(string[] args)
    {
        var at = Array.IndexOf(args, "--telemetry-parts");
        var parts = at >= 0 && at + 1 < args.Length ? args[at + 1].Split(',') : ["p2", "p3"];
        var only = Array.IndexOf(args, "--telemetry-only");
        Only = only >= 0 && only + 1 < args.Length ? args[only + 1] : null;
        AllocationTypes = args.Contains("--alloc-types");
        Census = args.Contains("--census");
        var ratio = Array.IndexOf(args, "--sample-ratio");
        SampleRatio = ratio >= 0 && ratio + 1 < args.Length ? double.Parse(args[ratio + 1], CultureInfo.InvariantCulture) : Defaults.SampleRatio;
        var max = Array.IndexOf(args, "--max-traces");
        MaxTracesPerSecond = max >= 0 && max + 1 < args.Length ? int.Parse(args[max + 1], CultureInfo.InvariantCulture) : Defaults.MaxTracesPerSecond;
        if (args.Contains("--floor"))
        {
            TelemetryFloor.Print(TelemetryOn);
            return 0;
        }

        if (parts.Contains("p2"))
        {
            await RunP2Async(args);
        }

        if (parts.Contains("p3"))
        {
            await RunP3Async(args);
        }

        return 0;
    }

    /// <summary>How often "on" collects its metrics: every 2 s, so that each P2 round (a second's warm-up, then 2–3 s
    /// measured) and each P3 window (2.5 s from the providers' start, the first 0.5 s unmeasured) pays for a collection,
    /// more often than any scrape would (Prometheus' default is a minute, OTLP's export 60 s).</summary>
    private const int CollectMilliseconds = 2_000;

    /// <summary>A process's own settings, where the bench is given none (first: the two below start from it).</summary>
    private static readonly TelemetryOptions Defaults = new();

    /// <summary>The share of new traces "on" records (<c>--sample-ratio</c>; <c>Trellis:Telemetry:SampleRatio</c>, 1 by
    /// default).</summary>
    private static double SampleRatio { get; set; } = Defaults.SampleRatio;

    /// <summary>At most this many new traces recorded per second (<c>--max-traces</c>, 0 for no limit;
    /// <c>Trellis:Telemetry:MaxTracesPerSecond</c>, 100 by default).</summary>
    private static int MaxTracesPerSecond { get; set; } = Defaults.MaxTracesPerSecond;

    /// <summary>After each path's rounds, a sampled profile of the types each side allocates (<c>--alloc-types</c>).</summary>
    private static bool AllocationTypes { get; set; }

    /// <summary>After each path's rounds, what "on" records per request (<c>--census</c>).</summary>
    private static bool Census { get; set; }

    /// <summary><c>tracing</c> or <c>metrics</c> to measure one of them alone (<c>--telemetry-only</c>); <c>raw-tracing</c>
    /// or <c>raw-metrics</c> for the same spans or measurements taken by a bare listener with no SDK behind it;
    /// <c>propagate</c> (<c>propagate-aspnet</c>) for the same sources' (ASP.NET Core's) spans made for their context
    /// only, by a bare listener; <c>metrics-no-trellis</c> or <c>metrics-no-aspnet</c> for metrics without
    /// <c>trellis.request.duration</c> or <c>http.server.request.duration</c>; <c>aspnet</c> or <c>trellis</c> for
    /// ASP.NET Core's instrumentation alone (its server span and request histogram) or Trellis' own (its spans and
    /// meter), tracing and metrics, and <c>aspnet-tracing</c>, <c>aspnet-metrics</c>, <c>trellis-tracing</c>,
    /// <c>trellis-metrics</c> for one of the two; null: both.</summary>
    private static string? Only { get; set; }

    /// <summary>Tracing and metrics as a Trellis process has them, with exports dropped.</summary>
    private static IDisposable TelemetryOn() => TelemetryOn(Only, SampleRatio, MaxTracesPerSecond);

    /// <summary><see cref="TelemetryOn()"/> for one side of <c>--telemetry-sides</c>: <paramref name="only"/> as
    /// <c>--telemetry-only</c>, new traces sampled at <paramref name="sampleRatio"/>.</summary>
    private static IDisposable TelemetryOn(string? only, double sampleRatio, int maxTracesPerSecond)
    {
        if (only == "raw-tracing")
        {
            // The same sources sampled and recorded by a bare listener: what the spans cost without the SDK behind them.
            var listener = new ActivityListener
            {
                ShouldListenTo = static source => TelemetryCensus.Sources.Contains(source.Name),
                Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
                ActivityStopped = static _ => { },
            };
            ActivitySource.AddActivityListener(listener);
            return listener;
        }

        if (only is "propagate" or "propagate-aspnet")
        {
            // Every span of the same sources (or ASP.NET Core's alone) made for its context only, as a sampler that
            // records nothing new leaves them: what an unsampled trace costs without the SDK behind it.
            var aspNetOnly = only == "propagate-aspnet";
            var listener = new ActivityListener
            {
                ShouldListenTo = source => aspNetOnly ? source.Name == TelemetryRegistration.AspNetCoreSource : TelemetryCensus.Sources.Contains(source.Name),
                Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.PropagationData,
            };
            ActivitySource.AddActivityListener(listener);
            return listener;
        }

        if (only == "raw-metrics")
        {
            // The same instruments enabled with a callback that does nothing: what the measurements cost the code that
            // makes them, without the SDK's aggregation.
            var listener = new System.Diagnostics.Metrics.MeterListener
            {
                InstrumentPublished = static (instrument, l) =>
                {
                    if (TelemetryCensus.Meters.Contains(instrument.Meter.Name))
                    {
                        l.EnableMeasurementEvents(instrument);
                    }
                },
            };
            listener.SetMeasurementEventCallback<double>(static (_, _, _, _) => { });
            listener.SetMeasurementEventCallback<long>(static (_, _, _, _) => { });
            listener.SetMeasurementEventCallback<int>(static (_, _, _, _) => { });
            listener.Start();
            return listener;
        }

        if (only is "aspnet" or "trellis" or "aspnet-tracing" or "aspnet-metrics" or "trellis-tracing" or "trellis-metrics")
        {
            // One owner's instrumentation alone (tracing, metrics or both), the SDK behind it as a process has it:
            // ASP.NET Core's server span and request histogram, or Trellis' own spans and meter.
            var aspNet = only.StartsWith("aspnet", StringComparison.Ordinal);
            var spans = only.EndsWith("-metrics", StringComparison.Ordinal) ? null : Sdk.CreateTracerProviderBuilder()
                .SetSampler(new ParentBasedSampler(new NewTraceSampler(sampleRatio, maxTracesPerSecond)))
                .AddSource(aspNet ? TelemetryRegistration.AspNetCoreSource : TrellisTelemetry.Name)
                .AddProcessor(new BatchActivityExportProcessor(new DroppingExporter<Activity>()))
                .Build();
            var measures = only.EndsWith("-tracing", StringComparison.Ordinal) ? null : Sdk.CreateMeterProviderBuilder()
                .AddMeter(aspNet ? TelemetryRegistration.AspNetCoreMeters : [TrellisTelemetry.Name])
                .AddView("http.server.active_requests", MetricStreamConfiguration.Drop)
                .AddReader(new PeriodicExportingMetricReader(new DroppingExporter<Metric>(), exportIntervalMilliseconds: CollectMilliseconds))
                .Build();
            return new Disposables(spans, measures);
        }

        var tracer = only is "metrics" or "metrics-no-trellis" or "metrics-no-aspnet" ? null : Sdk.CreateTracerProviderBuilder()
            .AddTrellisSources(sampleRatio, maxTracesPerSecond)
            .AddProcessor(new BatchActivityExportProcessor(new DroppingExporter<Activity>()))
            .Build();
        var metrics = Sdk.CreateMeterProviderBuilder().AddTrellisMeters();
        if (only is "metrics-no-trellis" or "metrics-no-aspnet")
        {
            // One of the two measurements a P3 request makes left out: which of them costs what.
            metrics.AddView(only == "metrics-no-trellis" ? "trellis.request.duration" : "http.server.request.duration", MetricStreamConfiguration.Drop);
        }

        var meter = only == "tracing" ? null : metrics
            .AddReader(new PeriodicExportingMetricReader(new DroppingExporter<Metric>(), exportIntervalMilliseconds: CollectMilliseconds))
            .Build();
        return new Disposables(tracer, meter);
    }

    // ---------------------------------------------------------------- P2

    private static async Task RunP2Async(string[] args)
    {
        var settings = P2.Settings.Parse(args);
        if (settings.Uri is null)
        {
            Console.WriteLine($"Telemetry P2: skipped, no broker (pass an amqp:// URI or set {P2.Variable})");
            return;
        }

        var payload = P2.Payload(128);
        await using var ours = await P2.OursRig.StartAsync(settings, $"p2t.{Guid.NewGuid():N}"[..12], payload);
        Console.WriteLine($"Telemetry P2 rabbitmq-rr: {settings.Rounds} rounds per side and level, interleaved on/off/off/on, payload {payload.Length} B");
        foreach (var inFlight in new[] { 1, 16 })
        {
            // Rounds of some 2 s (1 in flight) and 3 s (16 in flight): shorter ones are moved by whatever else the machine runs.
            var count = inFlight == 1 ? 5_000 : 30_000;
            for (var warm = 0; warm < 2; warm++)
            {
                await P2.MeasureAsync(ours.CallAsync, inFlight, count, 0);
                using (TelemetryOn())
                {
                    await P2.MeasureAsync(ours.CallAsync, inFlight, count, 0);
                }
            }

            var on = new List<P2.Result>();
            var off = new List<P2.Result>();
            for (var round = 0; round < settings.Rounds; round++)
            {
                foreach (var telemetry in round % 2 == 0 ? [true, false] : new[] { false, true })
                {
                    using var providers = telemetry ? TelemetryOn() : null;
                    // Unmeasured calls first, on both sides: what a provider sets up on first use (metric streams, their
                    // points and buckets) is a process's start-up cost, paid once, not a per-call one.
                    await P2.MeasureAsync(ours.CallAsync, inFlight, count / 4, 0);
                    P2.Settle();
                    (telemetry ? on : off).Add(await P2.MeasureAsync(ours.CallAsync, inFlight, count, 0));
                }
            }

            var (o, f) = (P2.Result.Median(on), P2.Result.Median(off));
            var paired = Harness.Median(on.Zip(off, static (a, b) => a.PerSecond / b.PerSecond));
            Report($"P2 inflight={inFlight}", f.PerSecond, o.PerSecond, "p50", f.P50Micros, o.P50Micros, paired,
                string.Create(CultureInfo.InvariantCulture, $"CPU per call off={f.CpuMicros:0}µs on={o.CpuMicros:0}µs, alloc off={f.Bytes:0}B on={o.Bytes:0}B"));
            if (Census)
            {
                await TelemetryCensus.PrintAsync(
                    $"P2 inflight={inFlight}",
                    TelemetryOn,
                    () => P2.MeasureAsync(ours.CallAsync, inFlight, count / 4, 0),
                    async () => { await P2.MeasureAsync(ours.CallAsync, inFlight, count, 0); return count; });
            }

            if (AllocationTypes)
            {
                await AllocationSampler.CompareAsync(
                    $"P2 inflight={inFlight}",
                    TelemetryOn,
                    () => P2.MeasureAsync(ours.CallAsync, inFlight, count / 4, 0),
                    async () => { await P2.MeasureAsync(ours.CallAsync, inFlight, count * 2, 0); return count * 2; });
            }
        }
    }

    // ---------------------------------------------------------------- P3

    private static async Task RunP3Async(string[] args)
    {
        var at = Array.IndexOf(args, "--p3-concurrency");
        var concurrency = at >= 0 && at + 1 < args.Length ? int.Parse(args[at + 1], CultureInfo.InvariantCulture) : 32;
        P3.EnsureTools();
        if (!File.Exists(Nginx.Binary) || !File.Exists(Wrk.Binary))
        {
            Console.WriteLine("Telemetry P3: skipped, needs nginx and wrk (scripts/bench-deps.sh installs them)");
            return;
        }

        await using var nginx = await Nginx.StartAsync(Environment.ProcessorCount, P3.StaticReply, upstream: null, proxyStaticNode: true);
        // The all-in-one process (its own one-silo cluster on free ports, state in memory), so it needs nothing running.
        await using var gateway = await P3.StartGatewayAsync(
            new Dictionary<string, string?>
            {
                // No providers of the process's own: the bench adds and removes them round by round.
                ["Trellis:Telemetry:Tracing"] = "false",
                ["Trellis:Telemetry:Metrics"] = "false",
                ["Trellis:Storage:Provider"] = "Memory",
                ["Trellis:Cluster:SiloPort"] = FreePort().ToString(CultureInfo.InvariantCulture),
                ["Trellis:Cluster:GatewayPort"] = FreePort().ToString(CultureInfo.InvariantCulture),
                ["Trellis:Cluster:ClusterId"] = $"bench-{Guid.NewGuid():N}",
                ["Trellis:Grpc:Url"] = "",
            },
            role: "silo");
        using var http = new HttpClient();
        var (nodeId, token) = await P3.RegisterAsync(http, gateway.Address, nginx.Node!);
        var body = JsonSerializer.SerializeToUtf8Bytes(new { topic = P3.Topic, message = new { n = 1, text = "hello trellis" }, timeout = 30 });
        var scripts = Directory.CreateTempSubdirectory("trellis-bench-telemetry-");
        try
        {
            var script = Wrk.WriteScript(scripts.FullName, "gateway", body, token);
            var url = new Uri(gateway.Address, $"/request/{nodeId}");
            // Both sides until tiered compilation has settled (it runs for some 15 s under load here), so that neither
            // side's rounds pay for compiling its code.
            for (var warm = 0; warm < 2; warm++)
            {
                await Wrk.RunAsync(url, script, concurrency, TimeSpan.FromSeconds(5));
                using (TelemetryOn())
                {
                    await Wrk.RunAsync(url, script, concurrency, TimeSpan.FromSeconds(5));
                }
            }

            var hold = Array.IndexOf(args, "--p3-profile");
            if (hold >= 0 && hold + 1 < args.Length)
            {
                // One side only, for a profiler attached to this process (perf record -p PID, dotnet-trace collect -p PID).
                var side = args[hold + 1] == "on";
                Console.WriteLine($"Telemetry P3 profile: pid {Environment.ProcessId}, telemetry {(side ? "on" : "off")}, 40 s of wrk");
                using var profiled = side ? TelemetryOn() : null;
                var held = await Wrk.RunAsync(url, script, concurrency, TimeSpan.FromSeconds(40));
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Telemetry P3 profile: {held.RequestsPerSecond:0}/s"));
                return;
            }

            var sidesAt = Array.IndexOf(args, "--telemetry-sides");
            if (sidesAt >= 0 && sidesAt + 1 < args.Length)
            {
                await RunP3SidesAsync(nginx, http, url, script, concurrency, Side.Parse(args[sidesAt + 1]));
                return;
            }

            // One wrk run for the whole measure while telemetry goes on and off every window (pairs in alternating
            // order). Neighbouring windows share whatever else the machine does, which moves separate runs by more than
            // the cost measured; the rate of each window is nginx's count of node calls (the gateway makes one per
            // request), so the measured process counts nothing itself.
            var pairs = Harness.Rounds * 2;
            Console.WriteLine($"Telemetry P3 gateway: wrk -t1 -c{concurrency} for {(pairs * 2 * P3Window).TotalSeconds:0} s, telemetry switched every {P3Window.TotalSeconds:0.0} s (the first {P3Settle.TotalMilliseconds:0} ms unmeasured), {pairs} pairs of windows in alternating order");
            var windows = (On: new List<Window>(), Off: new List<Window>());
            var load = Wrk.RunAsync(url, script, concurrency, (pairs * 2 * P3Window) + TimeSpan.FromSeconds(3));
            await Task.Delay(TimeSpan.FromSeconds(1));
            for (var pair = 0; pair < pairs; pair++)
            {
                foreach (var telemetry in pair % 2 == 0 ? [true, false] : new[] { false, true })
                {
                    using var providers = telemetry ? TelemetryOn() : null;
                    (telemetry ? windows.On : windows.Off).Add(await MeasureWindowAsync(nginx, http));
                }
            }

            var loaded = await load;
            if (loaded.SocketErrors is { } errors)
            {
                Console.WriteLine($"Telemetry P3   warning: {errors}");
            }

            var rates = (On: windows.On.Select(static w => w.Rate).ToList(), Off: windows.Off.Select(static w => w.Rate).ToList());
            var cpu = (On: windows.On.Select(static w => w.CpuMicros).ToList(), Off: windows.Off.Select(static w => w.CpuMicros).ToList());
            var bytes = (On: windows.On.Select(static w => w.Bytes).ToList(), Off: windows.Off.Select(static w => w.Bytes).ToList());
            var paired = Harness.Median(rates.On.Zip(rates.Off, static (a, b) => a / b));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Telemetry P3 windows: on {string.Join(" ", rates.On.Select(r => r.ToString("0", CultureInfo.InvariantCulture)))}; off {string.Join(" ", rates.Off.Select(r => r.ToString("0", CultureInfo.InvariantCulture)))}"));
            // A closed loop of `concurrency` connections: the mean latency is concurrency / rate (Little's law).
            var offRate = Harness.Median(rates.Off);
            var onRate = Harness.Median(rates.On);
            Report("P3 gateway", offRate, onRate, "mean", concurrency * 1e6 / offRate, concurrency * 1e6 / onRate, paired,
                string.Create(CultureInfo.InvariantCulture, $"bench-process CPU per request off={Harness.Median(cpu.Off):0.0}µs on={Harness.Median(cpu.On):0.0}µs (paired {Harness.Median(cpu.On.Zip(cpu.Off, static (a, b) => a / b)):0.000}), alloc off={Harness.Median(bytes.Off):0}B on={Harness.Median(bytes.On):0}B"));
            Console.WriteLine($"Telemetry P3 GC per 10k requests: off {GcShare.Median([.. windows.Off.Select(static w => w.Gc)])}; on {GcShare.Median([.. windows.On.Select(static w => w.Gc)])}");
            if (Census)
            {
                await TelemetryCensus.PrintAsync(
                    "P3",
                    TelemetryOn,
                    () => Wrk.RunAsync(url, script, concurrency, TimeSpan.FromSeconds(1)),
                    async () => (await Wrk.RunAsync(url, script, concurrency, TimeSpan.FromSeconds(3))).Requests);
            }

            if (AllocationTypes)
            {
                await AllocationSampler.CompareAsync(
                    "P3",
                    TelemetryOn,
                    () => Wrk.RunAsync(url, script, concurrency, TimeSpan.FromSeconds(1)),
                    async () => (await Wrk.RunAsync(url, script, concurrency, TimeSpan.FromSeconds(5))).Requests);
            }
        }
        finally
        {
            scripts.Delete(recursive: true);
        }
    }

    /// <summary>One side of <c>--telemetry-sides</c>: <c>off</c>, <c>on</c>, or a <c>--telemetry-only</c> value, each
    /// with an optional <c>@ratio</c> for new traces and <c>/max</c> new traces a second (<c>on@0.01</c>, <c>on/0</c> for
    /// every trace).</summary>
    private sealed record Side(string Name, string? Only, double Ratio, int Max, bool Off)
    {
        public static Side[] Parse(string list) =>
            [.. list.Split(',').Select(static text =>
            {
                var slash = text.IndexOf('/');
                var max = slash < 0 ? MaxTracesPerSecond : int.Parse(text[(slash + 1)..], CultureInfo.InvariantCulture);
                var rest = slash < 0 ? text : text[..slash];
                var at = rest.IndexOf('@');
                var kind = at < 0 ? rest : rest[..at];
                var ratio = at < 0 ? SampleRatio : double.Parse(rest[(at + 1)..], CultureInfo.InvariantCulture);
                return new Side(text, kind is "on" or "off" ? null : kind, ratio, max, kind == "off");
            })];
    }

    /// <summary>P3 with several sides in one load (<c>--telemetry-sides off,on,metrics,on@0.01</c>): groups of one window
    /// per side, the order rotating from group to group; each side is reported against the first in its group.</summary>
    private static async Task RunP3SidesAsync(Nginx nginx, HttpClient http, Uri url, string script, int concurrency, Side[] sides)
    {
        var groups = Harness.Rounds * 2;
        Console.WriteLine($"Telemetry P3 sides: {string.Join(", ", sides.Select(s => s.Name))}; {groups} groups of {P3Window.TotalSeconds:0.0}-s windows (the first {P3Settle.TotalMilliseconds:0} ms unmeasured), the order rotating");
        var windows = sides.Select(_ => new List<Window>()).ToArray();
        var load = Wrk.RunAsync(url, script, concurrency, (groups * sides.Length * P3Window) + TimeSpan.FromSeconds(3));
        await Task.Delay(TimeSpan.FromSeconds(1));
        for (var group = 0; group < groups; group++)
        {
            for (var k = 0; k < sides.Length; k++)
            {
                var i = (group + k) % sides.Length;
                using var providers = sides[i].Off ? null : TelemetryOn(sides[i].Only, sides[i].Ratio, sides[i].Max);
                windows[i].Add(await MeasureWindowAsync(nginx, http));
            }
        }

        await load;
        for (var i = 0; i < sides.Length; i++)
        {
            var paired = Harness.Median(windows[i].Zip(windows[0], static (a, b) => a.Rate / b.Rate));
            var cpuPaired = Harness.Median(windows[i].Zip(windows[0], static (a, b) => a.CpuMicros / b.CpuMicros));
            Console.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"Telemetry P3 side {sides[i].Name,-14} {Harness.Median(windows[i].Select(static w => w.Rate)):0}/s  against {sides[0].Name}: paired ratio={paired:0.000} ({(1 - paired) * 100:0.0}% slower)  CPU per request {Harness.Median(windows[i].Select(static w => w.CpuMicros)):0.0}µs (paired {cpuPaired:0.000})  alloc {Harness.Median(windows[i].Select(static w => w.Bytes)):0}B"));
        }
    }

    /// <summary>A P3 window: telemetry as the caller set it, each window 2.5 s from the providers' start, long enough
    /// that its measured part holds the collection "on" makes 2 s after it starts.</summary>
    private static readonly TimeSpan P3Window = TimeSpan.FromSeconds(2.5);

    /// <summary>The first part of a P3 window, unmeasured: what a provider sets up on first use is a start-up cost.</summary>
    private static readonly TimeSpan P3Settle = TimeSpan.FromMilliseconds(500);

    /// <summary>What one P3 window measured: the rate (nginx's count of node calls, one per request), the bench process's
    /// CPU and allocation per request, and its garbage collections.</summary>
    private readonly record struct Window(double Rate, double CpuMicros, double Bytes, GcShare Gc);

    /// <summary>Waits out <see cref="P3Settle"/>, then measures the rest of a <see cref="P3Window"/>.</summary>
    private static async Task<Window> MeasureWindowAsync(Nginx nginx, HttpClient http)
    {
        await Task.Delay(P3Settle);
        var requests0 = await nginx.RequestsAsync(http);
        var clock = Stopwatch.StartNew();
        var cpu0 = CpuTime.Seconds(Environment.ProcessId);
        var allocated0 = GC.GetTotalAllocatedBytes(precise: false);
        var gc0 = GcShare.Now();
        await Task.Delay(P3Window - P3Settle);
        var requests = await nginx.RequestsAsync(http) - requests0;
        var seconds = clock.Elapsed.TotalSeconds;
        return new Window(
            requests / seconds,
            (CpuTime.Seconds(Environment.ProcessId) - cpu0) * 1e6 / requests,
            (double)(GC.GetTotalAllocatedBytes(precise: false) - allocated0) / requests,
            GcShare.Now().Since(gc0, requests));
    }

    /// <summary>Prints one path's figures. The verdict is on <paramref name="paired"/>: the median over rounds of on/off
    /// throughput within the round (its two sides run back to back), which a load change between rounds moves less
    /// than the ratio of the two medians. <paramref name="latency"/> names the latency figure (p50, mean).</summary>
    private static void Report(string what, double offRate, double onRate, string latency, double offLatency, double onLatency, double paired, string more)
    {
        var slower = 1 - paired;
        Console.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"Telemetry {what}: off {offRate:0}/s {latency}={offLatency:0}µs  on {onRate:0}/s {latency}={onLatency:0}µs  medians' ratio={onRate / offRate:0.000} " +
            $"paired ratio={paired:0.000} {latency}-ratio={onLatency / offLatency:0.000} ({slower * 100:0.0}% slower; goal ≤ {Goal * 100:0}%: {(slower <= Goal ? "met" : "MISSED")}); {more}"));
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Garbage collections and their pauses, per 10,000 requests.</summary>
    private readonly record struct GcShare(double Gen0, double Gen1, double Gen2, double PauseMs)
    {
        public static GcShare Now() =>
            new(GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2), GC.GetTotalPauseDuration().TotalMilliseconds);

        public GcShare Since(GcShare start, long requests)
        {
            var per = 10_000.0 / Math.Max(1, requests);
            return new((Gen0 - start.Gen0) * per, (Gen1 - start.Gen1) * per, (Gen2 - start.Gen2) * per, (PauseMs - start.PauseMs) * per);
        }

        public static string Median(List<GcShare> all) => string.Create(
            CultureInfo.InvariantCulture,
            $"gen0 {Harness.Median(all.Select(g => g.Gen0)):0.0} gen1 {Harness.Median(all.Select(g => g.Gen1)):0.00} gen2 {Harness.Median(all.Select(g => g.Gen2)):0.00} pause {Harness.Median(all.Select(g => g.PauseMs)):0.00} ms");
    }

    /// <summary>An exporter that takes every batch and keeps nothing.</summary>
    internal sealed class DroppingExporter<T> : BaseExporter<T>
        where T : class
    {
        public override ExportResult Export(in Batch<T> batch)
        {
            foreach (var _ in batch)
            {
            }

            return ExportResult.Success;
        }
    }

    /// <summary>Providers disposed together (any of them may be absent).</summary>
    internal sealed class Disposables(params IDisposable?[] all) : IDisposable
    {
        public void Dispose()
        {
            foreach (var one in all)
            {
                one?.Dispose();
            }
        }
    }
}
