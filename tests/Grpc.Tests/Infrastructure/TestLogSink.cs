using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Trellis.Grpc.Tests.Infrastructure;

/// <summary>Collects log entries so a test can fail on an unexpected error log.</summary>
public sealed class TestLogSink : ILoggerProvider
{
    private readonly ConcurrentQueue<LogEntry> _entries = new();

    public IReadOnlyCollection<LogEntry> Entries => _entries;

    public IEnumerable<LogEntry> Errors => _entries.Where(static e => e.Level >= LogLevel.Error);

    public ILogger CreateLogger(string categoryName) => new SinkLogger(this, categoryName);

    public void Dispose()
    {
    }

    public readonly record struct LogEntry(LogLevel Level, string Category, string Message, Exception? Exception);

    private sealed class SinkLogger(TestLogSink sink, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Debug;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            => sink._entries.Enqueue(new LogEntry(logLevel, category, formatter(state, exception), exception));
    }
}
