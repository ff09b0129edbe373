using System.CommandLine;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Trellis.Cli;

/// <summary>A request to a gateway's HTTP API that was refused (exit 1) or could not be sent (exit 3).</summary>
internal sealed class CliException(int exitCode, string message) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}

/// <summary>The HTTP client of the commands that talk to a gateway: <c>--url</c> (or TRELLIS_URL) and <c>--token</c> (or
/// TRELLIS_TOKEN, the admin token when the gateway has one); errors become the exit codes of <see cref="CliApp"/>.</summary>
internal sealed class ClusterClient : IDisposable
{
    private readonly HttpClient _http;

    private ClusterClient(Uri url, string? token, TimeSpan timeout)
    {
        _http = new HttpClient { BaseAddress = url, Timeout = timeout };
        if (!string.IsNullOrEmpty(token))
        {
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
    }

    public Uri Url => _http.BaseAddress!;

    public static Option<Uri> UrlOption() =>
        Cli.UrlOption.Create("--url", "HTTP address of a gateway (or TRELLIS_URL)", Environment.GetEnvironmentVariable("TRELLIS_URL") is { Length: > 0 } env ? env : "http://127.0.0.1:5080");

    public static Option<string?> TokenOption() => new("--token")
    {
        Description = "bearer token: the gateway's admin token when it has one (or TRELLIS_TOKEN)",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("TRELLIS_TOKEN"),
    };

    public static ClusterClient Create(ParseResult parse, Option<Uri> url, Option<string?> token, TimeSpan? timeout = null) =>
        new(parse.GetValue(url)!, parse.GetValue(token), timeout ?? TimeSpan.FromSeconds(30));

    /// <summary>Sends a request; returns the status and the JSON body (Undefined when there is none). A 4xx or 5xx other than
    /// those in <paramref name="accept"/> throws with the gateway's message.</summary>
    public async Task<(HttpStatusCode Status, JsonElement Body)> SendAsync(
        HttpMethod method, string path, HttpContent? content, CancellationToken cancellationToken, params HttpStatusCode[] accept)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, cancellationToken);
        }
        catch (HttpRequestException e) when (e.StatusCode is null)
        {
            throw new CliException(CliApp.Unreachable, $"cannot reach {Url}: {(e.InnerException as SocketException)?.Message ?? e.Message}");
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new CliException(CliApp.Unreachable, $"{Url} did not answer within {_http.Timeout.TotalSeconds}s");
        }

        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(cancellationToken);
            JsonElement body = default;
            if (text.Length > 0)
            {
                try
                {
                    body = JsonSerializer.Deserialize<JsonElement>(text);
                }
                catch (JsonException)
                {
                    body = JsonSerializer.SerializeToElement(text);
                }
            }

            if (!response.IsSuccessStatusCode && Array.IndexOf(accept, response.StatusCode) < 0)
            {
                throw new CliException(CliApp.Failed, $"{(int)response.StatusCode} {ErrorMessage(body)}");
            }

            return (response.StatusCode, body);
        }
    }

    public static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    public static string ErrorMessage(JsonElement body) =>
        body.ValueKind == JsonValueKind.Object && body.TryGetProperty("error", out var e) && e.ValueKind == JsonValueKind.Object
            && e.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String
            ? m.GetString()!
            : body.ValueKind == JsonValueKind.Undefined ? "(no body)" : body.GetRawText();

    /// <summary>Runs a command's work, turning <see cref="CliException"/> into its message on stderr and its exit code.</summary>
    public static async Task<int> RunAsync(ParseResult parse, Func<TextWriter, TextWriter, Task<int>> work)
    {
        var output = parse.InvocationConfiguration.Output;
        var error = parse.InvocationConfiguration.Error;
        try
        {
            return await work(output, error);
        }
        catch (CliException e)
        {
            await error.WriteLineAsync($"trellis: {e.Message}");
            return e.ExitCode;
        }
    }

    public void Dispose() => _http.Dispose();
}
