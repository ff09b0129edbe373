using Microsoft.Extensions.Logging;

namespace Trellis.Api.Flows.Fbp.Internal;

internal static partial class FbpLog
{
    [LoggerMessage(Level = LogLevel.Information, Message = "FBP client connected from {Remote} (subprotocol {Subprotocol})")]
    public static partial void Connected(ILogger logger, string? remote, string subprotocol);

    [LoggerMessage(Level = LogLevel.Information, Message = "FBP client from {Remote} disconnected")]
    public static partial void Disconnected(ILogger logger, string? remote);

    [LoggerMessage(Level = LogLevel.Error, Message = "FBP {Protocol}:{Command} failed unexpectedly")]
    public static partial void Failed(ILogger logger, string protocol, string command, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "FBP client from {Remote} reads too slowly: {Protocol}:{Command} events are being dropped")]
    public static partial void Dropping(ILogger logger, string? remote, string protocol, string command);

    [LoggerMessage(Level = LogLevel.Warning, Message = "FBP watch of graph {Graph} did not stop cleanly")]
    public static partial void WatchCleanupFailed(ILogger logger, string graph, Exception exception);
}
