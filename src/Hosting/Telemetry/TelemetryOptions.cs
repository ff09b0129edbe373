using Trellis.Core.Errors;

namespace Trellis.Hosting.Telemetry;

/// <summary>Traces, metrics and logs of a process (<c>Trellis:Telemetry</c>).</summary>
public sealed class TelemetryOptions
{
    public const string Section = "Trellis:Telemetry";

    /// <summary>Record spans (Trellis, ASP.NET Core and Orleans sources). On by default: they cost
    /// little unless exported, and they carry <c>traceparent</c> from process to process.</summary>
    public bool Tracing { get; set; } = true;

    /// <summary>Collect metrics (the <c>Trellis</c> and <c>Microsoft.Orleans</c> meters, ASP.NET Core, runtime).</summary>
    public bool Metrics { get; set; } = true;

    /// <summary>Serve the metrics in Prometheus' text format at <see cref="PrometheusPath"/> on the HTTP port.</summary>
    public bool Prometheus { get; set; } = true;

    public string PrometheusPath { get; set; } = "/metrics";

    /// <summary>Export traces and metrics over OTLP to this endpoint (e.g. http://127.0.0.1:4317); unset: no export.</summary>
    public string? OtlpEndpoint { get; set; }

    /// <summary><c>grpc</c> (default) or <c>http/protobuf</c>.</summary>
    public string OtlpProtocol { get; set; } = "grpc";

    /// <summary>The share of new traces recorded, 0 to 1 (a trace started upstream keeps its caller's decision).</summary>
    public double SampleRatio { get; set; } = 1.0;

    /// <summary>At most this many new traces recorded per second by the process (0: no limit). Below it every new trace
    /// (of <see cref="SampleRatio"/>) is recorded; above it the rest still carry their context, unrecorded, so recording
    /// costs what the limit allows however busy the process is. A trace started upstream keeps its caller's decision.</summary>
    public int MaxTracesPerSecond { get; set; } = 100;

    /// <summary>Console logs: <c>simple</c> (one line each, the default) or <c>json</c> (one JSON object per line,
    /// with the trace and span ids of the activity that logged it).</summary>
    public string LogFormat { get; set; } = "simple";

    public TelemetryOptions Validate()
    {
        if (OtlpEndpoint is { Length: > 0 } endpoint
            && (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https")))
        {
            throw TrellisException.Invalid($"{Section}:OtlpEndpoint must be an http:// or https:// URL (was '{endpoint}')");
        }

        if (OtlpProtocol is not ("grpc" or "http/protobuf"))
        {
            throw TrellisException.Invalid($"{Section}:OtlpProtocol must be grpc or http/protobuf (was '{OtlpProtocol}')");
        }

        if (!PrometheusPath.StartsWith('/'))
        {
            throw TrellisException.Invalid($"{Section}:PrometheusPath must start with '/' (was '{PrometheusPath}')");
        }

        if (SampleRatio is < 0 or > 1 || double.IsNaN(SampleRatio))
        {
            throw TrellisException.Invalid($"{Section}:SampleRatio must be between 0 and 1 (was {SampleRatio})");
        }

        if (MaxTracesPerSecond < 0)
        {
            throw TrellisException.Invalid($"{Section}:MaxTracesPerSecond must be 0 (no limit) or more (was {MaxTracesPerSecond})");
        }

        if (LogFormat is not ("simple" or "json"))
        {
            throw TrellisException.Invalid($"{Section}:LogFormat must be simple or json (was '{LogFormat}')");
        }

        return this;
    }
}
