using System.Text.Json;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Microsoft.AspNetCore.Http;
using Trellis.Grpc.Server;
using Trellis.Grpc.Server.Internal;

namespace Trellis.Grpc.Transcoding.Internal;

/// <summary>One HTTP binding of a method: binds the request, runs the handler, and writes JSON or a google.rpc.Status.</summary>
internal sealed class TranscodedMethod(
    GrpcServiceMethod method,
    JsonRequestBinder binder,
    FieldDescriptor? responseBody,
    JsonFormatter formatter,
    ServerRuntime runtime)
{
    public const string JsonContentType = "application/json; charset=utf-8";

    /// <summary>Server streaming answers with newline-delimited JSON: one message per line, flushed as it is produced.</summary>
    public const string StreamContentType = "application/x-ndjson; charset=utf-8";

    public async Task HandleAsync(HttpContext httpContext)
    {
        var context = new TranscodingCallContext(httpContext, method.FullName);
        NdjsonWriter? stream = null;
        try
        {
            var request = await binder.BindAsync(httpContext).ConfigureAwait(false);
            if (method.Type == GrpcMethodType.Unary)
            {
                var response = await method.InvokeUnaryAsync(request, context).ConfigureAwait(false);
                var json = Render(response);
                context.ApplyResponseHeaders();
                context.ApplyTrailers(beforeStart: true);
                httpContext.Response.StatusCode = StatusCodes.Status200OK;
                httpContext.Response.ContentType = JsonContentType;
                await httpContext.Response.WriteAsync(json, httpContext.RequestAborted).ConfigureAwait(false);
            }
            else
            {
                stream = new NdjsonWriter(this, context);
                await method.InvokeServerStreamingAsync(request, stream, context).ConfigureAwait(false);
                if (!stream.Started)
                {
                    context.ApplyResponseHeaders();
                    httpContext.Response.ContentType = StreamContentType;
                }

                context.ApplyTrailers(beforeStart: !stream.Started);
            }
        }
        catch (Exception ex)
        {
            var (status, trailers) = ToStatus(ex, httpContext);
            if (!httpContext.Response.HasStarted)
            {
                context.ApplyResponseHeaders();
                await StatusJson.WriteAsync(httpContext.Response, status, trailers, formatter).ConfigureAwait(false);
            }
            else if (stream is not null && !httpContext.RequestAborted.IsCancellationRequested)
            {
                // The 200 is gone already: the last line carries the error instead.
                await stream.WriteErrorAsync(StatusJson.Format(status, trailers, formatter)).ConfigureAwait(false);
            }
        }
    }

    internal string Render(IMessage message)
    {
        if (responseBody is null)
        {
            return formatter.Format(message);
        }

        var value = responseBody.Accessor.GetValue(message);
        if (value is IMessage nested && !responseBody.IsRepeated)
        {
            return formatter.Format(nested);
        }

        // A scalar or repeated field: format the whole message and take the one property out of it.
        using var document = JsonDocument.Parse(formatter.Format(message));
        return document.RootElement.TryGetProperty(responseBody.JsonName, out var property) ? property.GetRawText() : "null";
    }

    private (Status Status, Metadata? Trailers) ToStatus(Exception exception, HttpContext httpContext)
    {
        switch (exception)
        {
            case GrpcException grpc:
                ServerLog.CallFailed(runtime.Logger, method.FullName, grpc.StatusCode, grpc.Detail);
                return (grpc.Status, grpc.Trailers);

            case OperationCanceledException when httpContext.RequestAborted.IsCancellationRequested:
                ServerLog.CallCancelled(runtime.Logger, method.FullName);
                return (new Status(StatusCode.Cancelled, "Call canceled by the client."), null);

            default:
                ServerLog.HandlerFailed(runtime.Logger, StatusCode.Unknown, method.FullName, exception);
                var detail = runtime.Options.EnableDetailedErrors
                    ? $"Exception was thrown by handler. {exception.GetType().Name}: {exception.Message}"
                    : "Exception was thrown by handler.";
                return (new Status(StatusCode.Unknown, detail), null);
        }
    }

    private sealed class NdjsonWriter(TranscodedMethod owner, TranscodingCallContext context) : IServerStreamWriter<IMessage>
    {
        private static readonly byte[] NewLine = "\n"u8.ToArray();

        public bool Started { get; private set; }

        public async ValueTask WriteAsync(IMessage message, CancellationToken cancellationToken = default)
        {
            var response = context.HttpContext.Response;
            var token = cancellationToken.CanBeCanceled ? cancellationToken : context.CancellationToken;
            if (!Started)
            {
                context.ApplyResponseHeaders();
                response.StatusCode = StatusCodes.Status200OK;
                response.ContentType = StreamContentType;
                Started = true;
            }

            await response.WriteAsync(owner.Render(message), token).ConfigureAwait(false);
            await response.Body.WriteAsync(NewLine, token).ConfigureAwait(false);
            await response.Body.FlushAsync(token).ConfigureAwait(false);
        }

        public async Task WriteErrorAsync(string statusJson)
        {
            var response = context.HttpContext.Response;
            await response.WriteAsync("{\"error\":" + statusJson + "}\n", context.CancellationToken).ConfigureAwait(false);
        }
    }
}
