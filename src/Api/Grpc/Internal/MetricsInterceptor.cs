using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Trellis.Core.Diagnostics;

namespace Trellis.Api.Grpc.Internal;

/// <summary>Times every gRPC call this server answers as OpenTelemetry's <c>rpc.server.call.duration</c>
/// (https://opentelemetry.io/docs/specs/semconv/rpc/rpc-metrics/), on the <c>Trellis</c> meter.</summary>
/// <remarks>grpc-dotnet 2.85 has event counters and tags on the ASP.NET Core request activity, but no meter with the
/// semantic conventions' instruments, hence this interceptor. It runs outside <see cref="ErrorInterceptor"/>, so it sees
/// the status a client gets. While nothing listens it adds one flag check per call.</remarks>
internal sealed class MetricsInterceptor : Interceptor
{
    private const string SystemKey = "rpc.system.name";
    private const string MethodKey = "rpc.method";
    private const string StatusKey = "rpc.response.status_code";

    public static readonly Histogram<double> CallDuration = TrellisTelemetry.Meter.CreateHistogram<double>(
        "rpc.server.call.duration", "s", "Measures the duration of inbound remote procedure calls",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10] });

    /// <summary>The status codes as the conventions write them (the names of grpc's codes, e.g. <c>DEADLINE_EXCEEDED</c>).</summary>
    private static readonly string[] StatusNames =
    [
        "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
        "UNAUTHENTICATED",
    ];

    private static readonly ConcurrentDictionary<string, string> MethodNames = new(StringComparer.Ordinal);

    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation) =>
        CallDuration.Enabled ? TimedAsync(context, () => continuation(request, context)) : continuation(request, context);

    public override Task ServerStreamingServerHandler<TRequest, TResponse>(
        TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation) =>
        CallDuration.Enabled ? TimedAsync(context, () => continuation(request, responseStream, context)) : continuation(request, responseStream, context);

    public override Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation) =>
        CallDuration.Enabled ? TimedAsync(context, () => continuation(requestStream, context)) : continuation(requestStream, context);

    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
        DuplexStreamingServerMethod<TRequest, TResponse> continuation) =>
        CallDuration.Enabled ? TimedAsync(context, () => continuation(requestStream, responseStream, context)) : continuation(requestStream, responseStream, context);

    private static async Task<TResponse> TimedAsync<TResponse>(ServerCallContext context, Func<Task<TResponse>> call)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            var response = await call();
            Record(context, started, context.Status.StatusCode);
            return response;
        }
        catch (Exception e)
        {
            Record(context, started, StatusOf(e, context));
            throw;
        }
    }

    private static async Task TimedAsync(ServerCallContext context, Func<Task> call)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            await call();
            Record(context, started, context.Status.StatusCode);
        }
        catch (Exception e)
        {
            Record(context, started, StatusOf(e, context));
            throw;
        }
    }

    /// <summary>The status grpc-dotnet answers for an exception that leaves the handler.</summary>
    private static StatusCode StatusOf(Exception e, ServerCallContext context) => e switch
    {
        RpcException rpc => rpc.StatusCode,
        OperationCanceledException when context.CancellationToken.IsCancellationRequested => StatusCode.Cancelled,
        _ => StatusCode.Unknown,
    };

    private static void Record(ServerCallContext context, long started, StatusCode status)
    {
        var method = MethodNames.GetOrAdd(context.Method, static m => m.TrimStart('/'));
        var tags = new TagList
        {
            { SystemKey, "grpc" },
            { MethodKey, method },
            { StatusKey, (uint)status < (uint)StatusNames.Length ? StatusNames[(int)status] : ((int)status).ToString(System.Globalization.CultureInfo.InvariantCulture) },
        };
        CallDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, tags);
    }
}
