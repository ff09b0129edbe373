using Microsoft.Extensions.Logging;

namespace Trellis.Edge.Activities.Internal;

internal static partial class ActivityLog
{
    [LoggerMessage(Level = LogLevel.Information, Message = "Activity {Name} ({Role}) started as pid {Pid}")]
    public static partial void Started(ILogger logger, string name, string role, int pid);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Activity {Name} ({Role}) ended: {Reason}; restart {Restarts} in {Delay}")]
    public static partial void Crashed(ILogger logger, string name, string role, string reason, int restarts, TimeSpan delay);

    [LoggerMessage(Level = LogLevel.Information, Message = "Activity {Name} ({Role}) stopped")]
    public static partial void Stopped(ILogger logger, string name, string role);

    [LoggerMessage(Level = LogLevel.Information, Message = "[{Role}] {Line}")]
    public static partial void Stderr(ILogger logger, string role, string line);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Activity {Role} wrote a line that is not a protocol message ({Problem}): {Line}")]
    public static partial void BadLine(ILogger logger, string role, string problem, string line);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Activity {Role} answered message {Id}, which it does not hold")]
    public static partial void UnknownId(ILogger logger, string role, string id);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Activity {Role} wrote to port '{Port}', which is not one of its outports")]
    public static partial void UnknownPort(ILogger logger, string role, string port);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Activity {Role} rejected message {Id}: {Error}")]
    public static partial void Rejected(ILogger logger, string role, string id, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Activity {Role}: {Count} message(s) it held when it ended were {What}")]
    public static partial void InFlightReturned(ILogger logger, string role, int count, string what);

    [LoggerMessage(Level = LogLevel.Error, Message = "Supervising activity {Role} failed unexpectedly")]
    public static partial void SupervisorFailed(ILogger logger, Exception exception, string role);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Activity {Role}: handing on its answer failed")]
    public static partial void OutletFailed(ILogger logger, Exception exception, string role);

    [LoggerMessage(Level = LogLevel.Information, Message = "Activity {Role} stopped: its input was closed and it {How}")]
    public static partial void StoppedGracefully(ILogger logger, string role, string how);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Activity home {Home}: {Problem}")]
    public static partial void HomeProblem(ILogger logger, string home, string problem);

    [LoggerMessage(Level = LogLevel.Information, Message = "Hosting the enabled activities of {Home}")]
    public static partial void Hosting(ILogger logger, string home);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reading the activity home {Home} failed")]
    public static partial void ScanFailed(ILogger logger, Exception exception, string home);
}
