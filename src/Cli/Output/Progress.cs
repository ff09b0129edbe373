using System.CommandLine;
using System.Diagnostics;

namespace Trellis.Cli;

/// <summary>Progress of a long operation on stderr: a line per second once it has taken more than a second, only when
/// stderr is a terminal or with <c>--progress</c>, so scripts and logs see none.</summary>
internal sealed class Progress : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _running;

    private Progress(TextWriter error, Func<TimeSpan, string> line)
    {
        _running = RunAsync(error, line, _stop.Token);
    }

    /// <summary>Whether progress lines go out for this run.</summary>
    public static bool Enabled(ParseResult parse) => ConnectionOptions.ProgressForced(parse) || CliContext.Current.ErrorIsTerminal;

    /// <summary>Reports <paramref name="line"/> (given the time elapsed) every second after the first, until disposed.</summary>
    public static Progress? Start(ParseResult parse, Func<TimeSpan, string> line) =>
        Enabled(parse) ? new Progress(parse.InvocationConfiguration.Error, line) : null;

    /// <summary>Writes one progress line now, when progress is enabled.</summary>
    public static Task LineAsync(ParseResult parse, string line) =>
        Enabled(parse) ? parse.InvocationConfiguration.Error.WriteLineAsync(line) : Task.CompletedTask;

    private static async Task RunAsync(TextWriter error, Func<TimeSpan, string> line, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                await error.WriteLineAsync(line(clock.Elapsed));
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _running;
        _stop.Dispose();
    }
}
