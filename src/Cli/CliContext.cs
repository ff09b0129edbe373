namespace Trellis.Cli;

/// <summary>What a run of the command line reads and writes besides its arguments: stdout, stderr, stdin and the
/// environment variables. A test gives its own; <see cref="Current"/> is the one of the running invocation.</summary>
public sealed class CliContext
{
    private static readonly AsyncLocal<CliContext?> Running = new();

    public TextWriter Output { get; init; } = Console.Out;

    public TextWriter Error { get; init; } = Console.Error;

    public TextReader Input { get; init; } = Console.In;

    /// <summary>The environment variables to see instead of the process's (null: the process's own).</summary>
    public IReadOnlyDictionary<string, string?>? Environment { get; init; }

    /// <summary>Whether stderr is a terminal a person watches (progress goes there only then, or with --progress).</summary>
    public bool ErrorIsTerminal => ReferenceEquals(Error, Console.Error) && !Console.IsErrorRedirected;

    /// <summary>Whether stdout is a terminal.</summary>
    public bool OutputIsTerminal => ReferenceEquals(Output, Console.Out) && !Console.IsOutputRedirected;

    internal static CliContext Current => Running.Value ?? Default;

    private static readonly CliContext Default = new();

    /// <summary>An environment variable, empty counting as unset.</summary>
    public string? Variable(string name)
    {
        var value = Environment is { } env ? env.GetValueOrDefault(name) : System.Environment.GetEnvironmentVariable(name);
        return string.IsNullOrEmpty(value) ? null : value;
    }

    internal static IDisposable Enter(CliContext context)
    {
        var previous = Running.Value;
        Running.Value = context;
        return new Restore(previous);
    }

    private sealed class Restore(CliContext? previous) : IDisposable
    {
        public void Dispose() => Running.Value = previous;
    }
}
