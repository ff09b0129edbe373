using Microsoft.Extensions.Logging;

namespace Trellis.Flows.Activities.Internal;

internal static partial class ActivityLog
{
    [LoggerMessage(1, LogLevel.Information, "Activity {Name} ({Role}) started as pid {Pid}")]
    public static partial void Started(ILogger logger, string name, string role, int pid);

    [LoggerMessage(2, LogLevel.Warning, "Activity {Name} ({Role}) ended: {Reason}; restart {Restarts} in {Delay}")]
    public static partial void Crashed(ILogger logger, string name, string role, string reason, int restarts, TimeSpan delay);

    [LoggerMessage(3, LogLevel.Information, "Activity {Name} ({Role}) stopped")]
    public static partial void Stopped(ILogger logger, string name, string role);

    [LoggerMessage(4, LogLevel.Information, "[{Role}] {Line}")]
    public static partial void Stderr(ILogger logger, string role, string line);

    [LoggerMessage(5, LogLevel.Warning, "Activity {Role} wrote a line that is not a protocol message ({Problem}): {Line}")]
    public static partial void BadLine(ILogger logger, string role, string problem, string line);

    [LoggerMessage(6, LogLevel.Warning, "Activity {Role} answered message {Id}, which it does not hold")]
    public static partial void UnknownId(ILogger logger, string role, string id);

    [LoggerMessage(7, LogLevel.Warning, "Activity {Role} wrote to port '{Port}', which is not one of its outports")]
    public static partial void UnknownPort(ILogger logger, string role, string port);

    [LoggerMessage(8, LogLevel.Warning, "Activity {Role} rejected message {Id}: {Error}")]
    public static partial void Rejected(ILogger logger, string role, string id, string error);

    [LoggerMessage(9, LogLevel.Warning, "Activity {Role}: {Count} message(s) it held when it ended were {What}")]
    public static partial void InFlightReturned(ILogger logger, string role, int count, string what);

    [LoggerMessage(10, LogLevel.Warning, "Reporting the state of activity {Role} failed")]
    public static partial void SinkFailed(ILogger logger, Exception exception, string role);

    [LoggerMessage(11, LogLevel.Warning, "Announcing activity {Role} on fbp failed")]
    public static partial void AnnounceFailed(ILogger logger, Exception exception, string role);

    [LoggerMessage(12, LogLevel.Warning, "Activity {Role}: publishing to {Exchange} failed")]
    public static partial void PublishFailed(ILogger logger, Exception exception, string role, string exchange);

    [LoggerMessage(13, LogLevel.Error, "Supervising activity {Role} failed unexpectedly")]
    public static partial void SupervisorFailed(ILogger logger, Exception exception, string role);

    [LoggerMessage(14, LogLevel.Information, "Activity {Role} stopped: its input was closed and it {How}")]
    public static partial void StoppedGracefully(ILogger logger, string role, string how);
}
