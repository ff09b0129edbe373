using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.Extensions.Logging;
using Trellis.Api.Errors;
using Trellis.Core.Errors;
using Trellis.Grains.Cluster;

namespace Trellis.Api.Grpc.Internal;

/// <summary>Turns the domain's errors into gRPC statuses for every service of the API, from the one
/// <see cref="ErrorTable"/>: an <see cref="ErrorKind"/>'s number is its status code. The server's own faults (Unknown,
/// Internal) are logged and answered without their text, as the HTTP API does; a cluster that cannot answer now
/// (<see cref="ClusterFaults"/>) is UNAVAILABLE.</summary>
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
        catch (Exception e) when (ClusterFaults.CannotAnswerNow(e, context.CancellationToken))
        {
            throw Unavailable(e, context);
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
        catch (Exception e) when (ClusterFaults.CannotAnswerNow(e, context.CancellationToken))
        {
            throw Unavailable(e, context);
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
        catch (Exception e) when (ClusterFaults.CannotAnswerNow(e, context.CancellationToken))
        {
            throw Unavailable(e, context);
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
        catch (Exception e) when (ClusterFaults.CannotAnswerNow(e, context.CancellationToken))
        {
            throw Unavailable(e, context);
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

    /// <summary>A grain call that met silos dying or joining, not handled where it was made: UNAVAILABLE, which clients
    /// may retry, with no internals in its text.</summary>
    private RpcException Unavailable(Exception e, ServerCallContext context)
    {
        LogClusterUnavailable(logger, e, context.Method);
        return new RpcException(new Status(StatusCode.Unavailable, ErrorResponses.ClusterUnavailableMessage));
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "gRPC {Method}: the cluster could not answer")]
    private static partial void LogClusterUnavailable(ILogger logger, Exception exception, string method);

    [LoggerMessage(Level = LogLevel.Error, Message = "gRPC {Method} failed unexpectedly")]
    private static partial void LogServerError(ILogger logger, Exception exception, string method);
}
