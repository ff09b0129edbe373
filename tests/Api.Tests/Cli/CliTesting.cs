using System.Text;
using System.Text.Json.Nodes;
using Trellis.Api.Tests.Infrastructure;
using Trellis.Cli;
using Trellis.TestKit;

namespace Trellis.Api.Tests.Cli;

/// <summary>Runs <c>trellis</c> in-process with its own stdout, stderr, stdin and environment: a home of its own
/// (TRELLIS_HOME, so a profile file there) and no TRELLIS_* variable of the machine's.</summary>
internal sealed class CliTesting : IDisposable
{
    private readonly TempFolder _home = new();

    public CliTesting(TestGateway? gateway = null) => Gateway = gateway;

    public TestGateway? Gateway { get; }

    public string Home => _home.Path;

    public Dictionary<string, string?> Environment { get; } = [];

    public string File(string name, string text)
    {
        var path = _home.File(name);
        System.IO.File.WriteAllText(path, text);
        return path;
    }

    /// <summary>Runs the CLI against <see cref="Gateway"/> (its --url and the admin --token), as written otherwise.</summary>
    public Task<Run> AdminAsync(params string[] args) =>
        RunAsync([.. args, "--url", Gateway!.Address.ToString(), "--token", TestGateway.AdminToken]);

    public Task<Run> RunAsync(params string[] args) => RunAsync(args, stdin: "", CancellationToken.None);

    public async Task<Run> RunAsync(string[] args, string stdin, CancellationToken cancellationToken, TextWriter? output = null, TextWriter? error = null)
    {
        output ??= new SharedWriter();
        error ??= new SharedWriter();
        var environment = new Dictionary<string, string?>(Environment) { ["TRELLIS_HOME"] = Home, ["HOME"] = Home };
        var context = new CliContext { Output = output, Error = error, Input = new StringReader(stdin), Environment = environment };
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, TestContext.Current.CancellationToken);
        var exit = await CliApp.RunAsync(args, context, linked.Token);
        return new Run(exit, output.ToString()!, error.ToString()!);
    }

    public void Dispose() => _home.Dispose();
}

/// <summary>One run's exit code, stdout and stderr.</summary>
internal sealed record Run(int Exit, string Out, string Err)
{
    public JsonNode Json => JsonNode.Parse(Out) ?? throw new InvalidOperationException($"stdout is JSON null: {this}");

    public string[] Lines => Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    public override string ToString() => $"exit {Exit}\nstdout: {Out}\nstderr: {Err}";
}

/// <summary>A writer a running command writes to while the test reads it.</summary>
internal sealed class SharedWriter : TextWriter
{
    private readonly StringBuilder _text = new();

    public override Encoding Encoding => Encoding.UTF8;

    public override void Write(char value)
    {
        lock (_text)
        {
            _text.Append(value);
        }
    }

    public override void Write(string? value)
    {
        lock (_text)
        {
            _text.Append(value);
        }
    }

    public override Task WriteAsync(string? value)
    {
        Write(value);
        return Task.CompletedTask;
    }

    public override Task WriteLineAsync(string? value)
    {
        Write(value + "\n");
        return Task.CompletedTask;
    }

    public override string ToString()
    {
        lock (_text)
        {
            return _text.ToString();
        }
    }
}
