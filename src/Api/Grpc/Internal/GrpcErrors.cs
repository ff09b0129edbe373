using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.Extensions.Logging;
using Trellis.Core.Errors;

namespace Trellis.Api.Grpc.Internal;

/// <summary>Turns the domain's errors into gRPC statuses for every service of the API, from the one
/// <see cref="ErrorTable"/>: an <see cref="ErrorKind"/>'s number is its status code. The server's own faults (Unknown,
/// Internal) are logged and answered without their text, as the HTTP API does.</summary>
internal sealed partial class ErrorInterceptor(ILogger<ErrorInterceptor> logger) : Interceptor
{
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(request, context);
        }
        catch (TrellisException e)
        {
            throw ToStatus(e, context);
        }
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(
        TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            await continuation(request, responseStream, context);
        }
        catch (TrellisException e)
        {
            throw ToStatus(e, context);
        }
    }

    public override async Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(requestStream, context);
        }
        catch (TrellisException e)
        {
            throw ToStatus(e, context);
        }
    }

    public override async Task DuplexStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
        DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            await continuation(requestStream, responseStream, context);
        }
        catch (TrellisException e)
        {
            throw ToStatus(e, context);
        }
    }

    private RpcException ToStatus(TrellisException e, ServerCallContext context)
    {
        if (ErrorTable.IsServerFault(e.Kind))
        {
            LogServerError(logger, e, context.Method);
            return new RpcException(new Status(StatusCode.Internal, "The server failed to handle the request; see its log."));
        }

        return new RpcException(new Status((StatusCode)(int)e.Kind, e.Message));
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "gRPC {Method} failed unexpectedly")]
    private static partial void LogServerError(ILogger logger, Exception exception, string method);
}
