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
                tracing
                    .SetSampler(new ParentBasedSampler(new TraceIdRatioBasedSampler(options.SampleRatio)))
                    .AddSource(TrellisTelemetry.Name)
                    .AddSource(OrleansSources)
                    .AddAspNetCoreInstrumentation()
                    .AddHttpClientInstrumentation();
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
                metrics
                    .AddMeter(TrellisTelemetry.Name, OrleansMeter)
                    .AddAspNetCoreInstrumentation()
                    .AddHttpClientInstrumentation()
                    .AddRuntimeInstrumentation();
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
