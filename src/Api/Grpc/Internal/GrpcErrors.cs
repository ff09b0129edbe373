using Microsoft.Extensions.Logging;
using Trellis.Core.Errors;
using Trellis.Grpc;
using Trellis.Grpc.Server;

namespace Trellis.Api.Grpc.Internal;

/// <summary>Domain errors as gRPC statuses, for every service of the API.</summary>
internal static partial class GrpcErrors
{
    /// <summary>The status of a domain error: <see cref="ErrorKind"/> numbers are gRPC's codes. The server's own faults
    /// (Unknown, Internal) are logged and answered without their text, as the HTTP API does.</summary>
    public static GrpcException ToStatus(TrellisException e, ILogger logger, ServerCallContext context)
    {
        if (e.Kind is ErrorKind.Unknown or ErrorKind.Internal)
        {
            LogServerError(logger, e, context.Method);
            return new GrpcException(StatusCode.Internal, "The server failed to handle the request; see its log.");
        }

        return new GrpcException((StatusCode)(int)e.Kind, e.Message);
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "gRPC {Method} failed unexpectedly")]
    private static partial void LogServerError(ILogger logger, Exception exception, string method);
}
