using Microsoft.Extensions.Logging;

namespace Trellis.Edge.Jobs.Internal;

internal static partial class JobLog
{
    [LoggerMessage(1, LogLevel.Information, "Job {Id} ({Name}) started: {Command}")]
    public static partial void Started(ILogger logger, string id, string name, string command);

    [LoggerMessage(2, LogLevel.Information, "Job {Id} ({Name}) ended: {Status}")]
    public static partial void Ended(ILogger logger, string id, string name, string status);

    [LoggerMessage(3, LogLevel.Information, "Job {Id} ({Name}) restarts ({Restarts} of {Max}) after {Status}")]
    public static partial void Restarting(ILogger logger, string id, string name, int restarts, int max, string status);

    [LoggerMessage(4, LogLevel.Information, "Job {Id} ({Name}) adopted: still running as pid {Pid}")]
    public static partial void Adopted(ILogger logger, string id, string name, int pid);

    [LoggerMessage(5, LogLevel.Warning, "Job {Id} could not start: {Reason}")]
    public static partial void LaunchFailed(ILogger logger, string id, string reason);

    [LoggerMessage(6, LogLevel.Warning, "Skipping the unreadable job record {Path}: {Reason}")]
    public static partial void Unreadable(ILogger logger, string path, string reason);

    [LoggerMessage(7, LogLevel.Error, "Watching the jobs failed")]
    public static partial void WatchFailed(ILogger logger, Exception exception);
}
