using System.CommandLine;
using System.Text.Json.Nodes;
using Trellis.Edge.Daemon;
using Trellis.Edge.Local;

namespace Trellis.Edge.Cli;

/// <summary>What the <c>trellis-edge</c> commands share: the options that find the agent, and how they print answers
/// and errors. Exit codes: 0 done, 1 the agent refused (its error printed), 2 usage, 3 no agent running.</summary>
internal static class EdgeCli
{
    public const int Ok = 0;
    public const int Refused = 1;
    public const int Usage = 2;
    public const int Unreachable = 3;

    /// <summary><c>--home DIR</c>: the agent's work directory (TRELLIS_EDGE_HOME, else $TMPDIR/trellis-edge).</summary>
    public static readonly Option<string?> Home = new("--home") { Description = "The agent's work directory (TRELLIS_EDGE_HOME; default $TMPDIR/trellis-edge)", Recursive = true };

    /// <summary><c>--socket PATH</c>: the agent's local API socket (default HOME/agent.sock).</summary>
    public static readonly Option<string?> Socket = new("--socket") { Description = "The agent's local API socket (default HOME/agent.sock)", Recursive = true };

    public static EdgeOptions Options(ParseResult parse)
    {
        var options = new EdgeOptions();
        if (parse.GetValue(Home) is { Length: > 0 } home)
        {
            options = options with { WorkDir = home };
        }

        if (parse.GetValue(Socket) is { Length: > 0 } socket)
        {
            options = options with { SocketPath = socket };
        }

        return options;
    }

    public static LocalClient Client(ParseResult parse) => new(Options(parse).Socket);

    /// <summary>Calls the agent and hands a 2xx body, as JSON (null when empty or not JSON), to <paramref name="print"/>;
    /// prints the error and returns the exit code otherwise.</summary>
    public static Task<int> CallAsync(ParseResult parse, HttpMethod method, string path, JsonNode? body, Action<JsonNode?> print, CancellationToken cancellationToken) =>
        CallTextAsync(parse, method, path, body, text => print(ParseOrNull(text)), cancellationToken);

    /// <summary>Calls the agent and hands a 2xx body, as text (log, joblist save), to <paramref name="print"/>; prints the
    /// error (its message when the answer is the agent's JSON error) and returns the exit code otherwise.</summary>
    public static async Task<int> CallTextAsync(ParseResult parse, HttpMethod method, string path, JsonNode? body, Action<string> print, CancellationToken cancellationToken)
    {
        using var client = Client(parse);
        int status;
        string text;
        try
        {
            (status, text) = await client.SendAsync(method, path, body, cancellationToken);
        }
        catch (HttpRequestException e)
        {
            await Console.Error.WriteLineAsync($"trellis-edge: no agent answers on {client.SocketPath} ({e.Message}); start one with 'trellis-edge daemon'");
            return Unreachable;
        }

        if (status is >= 200 and < 300)
        {
            print(text);
            return Ok;
        }

        var message = ParseOrNull(text)?["error"]?["message"]?.GetValue<string>() ?? text;
        await Console.Error.WriteLineAsync($"trellis-edge: {message} ({status})");
        return Refused;
    }

    private static JsonNode? ParseOrNull(string text)
    {
        try
        {
            return text.Length == 0 ? null : JsonNode.Parse(text);
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }
}
