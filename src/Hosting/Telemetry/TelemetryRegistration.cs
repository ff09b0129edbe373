using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Trellis.Core.Diagnostics;
using Trellis.Hosting.Configuration;

namespace Trellis.Hosting.Telemetry;

/// <summary>OpenTelemetry for a Trellis process: the sources and meters it records, the Prometheus scrape endpoint,
/// OTLP export when configured, and the console log format.</summary>
public static class TelemetryRegistration
{
    /// <summary>Orleans' activity sources (spans of grain calls, their storage and the runtime).</summary>
    public static readonly string[] OrleansSources = ["Microsoft.Orleans.Runtime", "Microsoft.Orleans.Application", "Microsoft.Orleans.Storage"];

    /// <summary>Orleans' meter (Orleans 10 names it so; older releases and tools that copied them used <c>Orleans</c>).</summary>
    public const string OrleansMeter = "Microsoft.Orleans";

    /// <summary>Orleans' gauge of its grain-directory cache's size, left out (<see cref="AddTrellisMeters"/>).</summary>
    public const string OrleansDirectoryCacheSize = "orleans-directory-cache-size";

    /// <summary>ASP.NET Core's activity source: its server spans, which <see cref="UseTrellisServerSpans"/> tags with
    /// the HTTP semantic conventions.</summary>
    public const string AspNetCoreSource = "Microsoft.AspNetCore";

    /// <summary>ASP.NET Core's meters worth their cost: requests (<c>http.server.request.duration</c>), Kestrel's
    /// connections and unhandled exceptions. Routing's and the memory pool's meters are left out: they record on every
    /// route match and every buffer rented.</summary>
    public static readonly string[] AspNetCoreMeters = ["Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel", "Microsoft.AspNetCore.Diagnostics"];

    /// <summary>The spans a Trellis process records: Trellis' own (the bus's producer and consumer spans, flows, the
    /// edge link), Orleans' and ASP.NET Core's server spans. Sampled parent-based: a span with a parent follows it, and
    /// of the traces that start here <paramref name="sampleRatio"/> are recorded, at most
    /// <paramref name="maxTracesPerSecond"/> a second (0: no limit; <see cref="NewTraceSampler"/>).</summary>
    /// <remarks>HttpClient spans are not recorded: the gateway's call to a node is the bus consumer span, whose id the
    /// node receives in its <c>traceparent</c> header (the node client sets it; HttpClient's own propagation is off
    /// there), so a second span per call would repeat it. gRPC calls are ASP.NET Core server spans, which grpc-dotnet
    /// tags with <c>grpc.method</c> and <c>grpc.status_code</c>.</remarks>
    public static TracerProviderBuilder AddTrellisSources(this TracerProviderBuilder tracing, double sampleRatio, int maxTracesPerSecond) =>
        tracing
            .SetSampler(new ParentBasedSampler(new NewTraceSampler(sampleRatio, maxTracesPerSecond)))
            .AddSource(TrellisTelemetry.Name)
            .AddSource(OrleansSources)
            .AddSource(AspNetCoreSource);

    /// <summary>The meters a Trellis process collects: <c>Trellis</c>, Orleans', ASP.NET Core's
    /// (<see cref="AspNetCoreMeters"/>) and the .NET runtime's (observed only when collected).</summary>
    /// <remarks>HttpClient's meter is left out: a node call is measured by <c>trellis.request.duration</c> by topic,
    /// group and code.</remarks>
    public static MeterProviderBuilder AddTrellisMeters(this MeterProviderBuilder metrics) =>
        metrics
            .AddMeter(TrellisTelemetry.Name, OrleansMeter)
            .AddMeter(AspNetCoreMeters)
            .AddRuntimeInstrumentation()
            // One view for every instrument: where two views match, the SDK makes a stream for each, so a drop and a
            // smaller stream must come from the same one.
            .AddView(StreamOf);

    /// <summary>The series an instrument of Orleans, Kestrel or the runtime may have: their attributes are a few names
    /// each (grain types, silo addresses, directions, GC generations). Past it further series add up in one overflow
    /// series (<c>otel.metric.overflow</c>) instead of getting lost.</summary>
    /// <remarks>The SDK allocates every stream's series up front, 2,000 by default: Orleans' 151 instruments alone came
    /// to 25 MB of a process's memory, nearly all of it never used. <c>Trellis</c> and ASP.NET Core's request duration
    /// keep the default (topics, groups and routes are the application's).</remarks>
    public const int FewSeries = 200;

    private static readonly MetricStreamConfiguration Few = new() { CardinalityLimit = FewSeries };

    private static MetricStreamConfiguration? StreamOf(Instrument instrument) => instrument switch
    {
        // Two measurements per request for a gauge of requests in flight, which Kestrel's connections and the request
        // rate already tell.
        { Name: "http.server.active_requests" } => MetricStreamConfiguration.Drop,
        // Orleans counts its grain-directory cache by walking the cache's whole table, sized for a million entries (8 MB)
        // however few it holds: one walk per collection cost more CPU than any other instrument here.
        { Name: OrleansDirectoryCacheSize } => MetricStreamConfiguration.Drop,
        { Meter.Name: TrellisTelemetry.Name or "Microsoft.AspNetCore.Hosting" } => null,
        _ => Few,
    };

    /// <summary>Adds traces, metrics and the console logger of a process with role <paramref name="role"/> (silo, gateway).</summary>
    public static TelemetryOptions AddTrellisTelemetry(this WebApplicationBuilder builder, string role)
    {
        var options = ConfigurationBinding.Bind<TelemetryOptions>(builder.Configuration, TelemetryOptions.Section).Validate();
        builder.Services.AddSingleton(options);

        builder.Logging.ClearProviders();
        if (options.LogFormat == "json")
        {
            builder.Logging.AddJsonConsole(o =>
            {
                o.IncludeScopes = true;
                o.UseUtcTimestamp = true;
                o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
            });
            builder.Logging.Configure(o => o.ActivityTrackingOptions = ActivityTrackingOptions.TraceId | ActivityTrackingOptions.SpanId);
        }
        else
        {
            builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        }

        if (!options.Tracing && !options.Metrics)
        {
            return options;
        }

        var otlp = options.OtlpEndpoint is { Length: > 0 } endpoint ? new Uri(endpoint) : null;
        var protocol = options.OtlpProtocol == "http/protobuf" ? OtlpExportProtocol.HttpProtobuf : OtlpExportProtocol.Grpc;
        var telemetry = builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService($"trellis-{role}", serviceNamespace: "trellis", serviceInstanceId: $"{Environment.MachineName}:{Environment.ProcessId}"));

        if (options.Tracing)
        {
            telemetry.WithTracing(tracing =>
            {
                tracing.AddTrellisSources(options.SampleRatio, options.MaxTracesPerSecond);
                if (otlp is not null)
                {
                    tracing.AddOtlpExporter(o => Otlp(o, otlp, protocol, "v1/traces"));
                }
            });
        }

        if (options.Metrics)
        {
            telemetry.WithMetrics(metrics =>
            {
                metrics.AddTrellisMeters();
                if (options.Prometheus)
                {
                    metrics.AddPrometheusExporter();
                }

                if (otlp is not null)
                {
                    metrics.AddOtlpExporter(o => Otlp(o, otlp, protocol, "v1/metrics"));
                }
            });
        }

        return options;
    }

    /// <summary>Tags ASP.NET Core's server spans with the HTTP semantic conventions (request, status code, route, name);
    /// first in the pipeline. A request no tracer samples (tracing off, or not in the sample) costs a feature lookup.</summary>
    public static WebApplication UseTrellisServerSpans(this WebApplication app)
    {
        app.UseMiddleware<ServerSpanTags>();
        return app;
    }

    /// <summary>Maps the Prometheus scrape endpoint (<c>/metrics</c> unless configured otherwise) when it is on.</summary>
    public static WebApplication MapTrellisMetrics(this WebApplication app)
    {
        var options = app.Services.GetRequiredService<TelemetryOptions>();
        if (options.Metrics && options.Prometheus)
        {
            app.MapPrometheusScrapingEndpoint(options.PrometheusPath);
        }

        return app;
    }

    private static void Otlp(OtlpExporterOptions o, Uri endpoint, OtlpExportProtocol protocol, string signalPath)
    {
        o.Protocol = protocol;
        // Over HTTP each signal has its own path under the base endpoint; over gRPC the endpoint is used as it is.
        o.Endpoint = protocol == OtlpExportProtocol.HttpProtobuf && endpoint.AbsolutePath is "/" or ""
            ? new Uri(endpoint, signalPath)
            : endpoint;
    }
}
