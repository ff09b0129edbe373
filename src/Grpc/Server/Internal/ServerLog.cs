using Microsoft.Extensions.Logging;

namespace Trellis.Grpc.Server.Internal;

internal static partial class ServerLog
{
    [LoggerMessage(1, LogLevel.Error, "Error status code '{StatusCode}' raised while handling {Method}.")]
    public static partial void HandlerFailed(ILogger logger, StatusCode statusCode, string method, Exception exception);

    [LoggerMessage(2, LogLevel.Information, "Call {Method} was cancelled by the client.")]
    public static partial void CallCancelled(ILogger logger, string method);

    [LoggerMessage(3, LogLevel.Debug, "Call {Method} exceeded its deadline of {Deadline}.")]
    public static partial void DeadlineExceeded(ILogger logger, string method, DateTimeOffset deadline);

    [LoggerMessage(4, LogLevel.Debug, "Call {Method} ended with status {StatusCode}: {Detail}")]
    public static partial void CallFailed(ILogger logger, string method, StatusCode statusCode, string detail);

    [LoggerMessage(5, LogLevel.Debug, "Writing the deadline status of {Method} failed.")]
    public static partial void DeadlineWriteFailed(ILogger logger, string method, Exception exception);

    [LoggerMessage(6, LogLevel.Warning, "Method {Method} is {MethodType}; JSON transcoding supports only unary and server-streaming methods, so its HTTP rule is skipped.")]
    public static partial void StreamingMethodNotTranscoded(ILogger logger, string method, GrpcMethodType methodType);
}
