using Microsoft.Extensions.Logging;

namespace Trellis.Cli;

/// <summary>The foreground host's log: one line per entry on stderr (time, level, message), Information and up.</summary>
internal sealed class ActivityConsoleLogger(TextWriter error) : ILoggerFactory, ILogger
{
    private readonly Lock _lock = new();

    public ILogger CreateLogger(string categoryName) => this;

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (!IsEnabled(logLevel))
        {
            return;
        }

        var level = logLevel switch
        {
            LogLevel.Information => "info",
            LogLevel.Warning => "warn",
            LogLevel.Error => "fail",
            LogLevel.Critical => "crit",
            _ => "dbug",
        };
        var line = $"{DateTimeOffset.Now:HH:mm:ss} {level}: {formatter(state, exception)}{(exception is null ? "" : $" ({exception.Message})")}";
        lock (_lock)
        {
            error.WriteLine(line);
            error.Flush();
        }
    }

    public void Dispose()
    {
    }
}
