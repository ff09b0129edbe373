using Microsoft.Extensions.Logging;

namespace Trellis.Edge.Daemon;

/// <summary>The agent's log: one line per entry on stderr (UTC time, level, message, exception type and message),
/// from <see cref="MinLevel"/> up. Small on purpose: a device agent carries no logging framework.</summary>
public sealed class AgentLog(LogLevel minLevel, TextWriter? writer = null) : ILogger
{
    private readonly TextWriter _writer = writer ?? Console.Error;
    private readonly Lock _lock = new();

    public LogLevel MinLevel { get; } = minLevel;

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= MinLevel && logLevel != LogLevel.None;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (!IsEnabled(logLevel))
        {
            return;
        }

        var line = $"{DateTime.UtcNow:yyyy-MM-ddTHH:mm:ss.fffZ} {Level(logLevel)} {formatter(state, exception)}";
        if (exception is not null)
        {
            line += $" ({exception.GetType().Name}: {exception.Message})";
        }

        lock (_lock)
        {
            _writer.WriteLine(line);
            _writer.Flush();
        }
    }

    /// <summary>Parses debug|info|warn|error (gshell's levels); null for anything else.</summary>
    public static LogLevel? ParseLevel(string text) => text.ToLowerInvariant() switch
    {
        "debug" => LogLevel.Debug,
        "info" => LogLevel.Information,
        "warn" or "warning" => LogLevel.Warning,
        "error" => LogLevel.Error,
        _ => null,
    };

    private static string Level(LogLevel level) => level switch
    {
        LogLevel.Trace => "trace",
        LogLevel.Debug => "debug",
        LogLevel.Information => "info ",
        LogLevel.Warning => "warn ",
        LogLevel.Error => "error",
        _ => "crit ",
    };
}
