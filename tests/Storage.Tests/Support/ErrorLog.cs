using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Trellis.Storage.Tests.Support;

/// <summary>A logger provider that keeps every error a host logs, so a test can fail on the unexpected ones.</summary>
public sealed class ErrorLog : ILoggerProvider
{
    private readonly ConcurrentQueue<string> _errors = new();

    public IReadOnlyCollection<string> Errors => _errors;

    /// <summary>The errors logged by categories starting with <paramref name="prefix"/>.</summary>
    public IEnumerable<string> From(string prefix) => _errors.Where(e => e.StartsWith(prefix, StringComparison.Ordinal));

    /// <summary>Writes every kept error to the test's output, so a failing run shows what the silos complained about.</summary>
    public void WriteTo(Xunit.ITestOutputHelper? output)
    {
        foreach (var error in _errors)
        {
            output?.WriteLine(error);
        }
    }

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _errors);

    public void Dispose()
    {
    }

    private sealed class Logger(string category, ConcurrentQueue<string> errors) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Error;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                errors.Enqueue($"{category}: {formatter(state, exception)} {exception}");
            }
        }
    }
}
