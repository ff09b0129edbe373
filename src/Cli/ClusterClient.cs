using System.CommandLine;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Trellis.Core.Errors;

namespace Trellis.Cli;

/// <summary>A failure with its exit code: a request refused (1), bad input (2) or a cluster that cannot be reached (3).</summary>
internal sealed class CliException(int exitCode, string message) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}

/// <summary>The HTTP client of the commands that talk to a gateway, at the address and with the token of
/// <see cref="ConnectionOptions"/>; failures become the exit codes of <see cref="CliApp"/>: a connection that cannot be
/// made (refused, unknown host, no connection within 10 s) or an answer that never comes is 3, a 4xx or 5xx is 1.</summary>
internal sealed class ClusterClient : IDisposable
{
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(10);

    private readonly HttpClient _http;

    private ClusterClient(Uri url, string? token, TimeSpan timeout)
    {
        _http = new HttpClient(new SocketsHttpHandler { ConnectTimeout = ConnectTimeout }) { BaseAddress = url, Timeout = timeout };
        if (!string.IsNullOrEmpty(token))
        {
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
    }

    public Uri Url => _http.BaseAddress!;

    /// <summary>A client for the gateway of this run; <paramref name="timeout"/> bounds each answer (default 30 s).</summary>
    public static ClusterClient Create(ParseResult parse, TimeSpan? timeout = null) =>
        new(ConnectionOptions.ResolveUrl(parse), ConnectionOptions.ResolveToken(parse), timeout ?? TimeSpan.FromSeconds(30));

    /// <summary>Sends a request; returns the status and the JSON body (Undefined when there is none). A 4xx or 5xx other than
    /// those in <paramref name="accept"/> throws with the gateway's message.</summary>
    public Task<(HttpStatusCode Status, JsonElement Body)> SendAsync(
        HttpMethod method, string path, HttpContent? content, CancellationToken cancellationToken, params HttpStatusCode[] accept) =>
        SendAsync(method, path, content, status => Array.IndexOf(accept, status) >= 0, cancellationToken);

    /// <summary>Sends a request; a 4xx or 5xx that <paramref name="accept"/> refuses throws with the gateway's message.</summary>
    public async Task<(HttpStatusCode Status, JsonElement Body)> SendAsync(
        HttpMethod method, string path, HttpContent? content, Func<HttpStatusCode, bool> accept, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        using var response = await SendAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        var body = Parse(text);
        if (!response.IsSuccessStatusCode && !accept(response.StatusCode))
        {
            throw new CliException(CliApp.Failed, $"{(int)response.StatusCode} {ErrorMessage(body)}");
        }

        return (response.StatusCode, body);
    }

    /// <summary>Reads a Server-Sent Events stream (<c>GET path</c>) until it ends or <paramref name="cancellationToken"/>
    /// fires: each event's name and its data parsed as JSON. A refusal before the stream starts throws as
    /// <see cref="SendAsync(HttpMethod, string, HttpContent?, CancellationToken, HttpStatusCode[])"/> does.</summary>
    public async IAsyncEnumerable<(string Event, JsonElement Data)> EventsAsync(string path, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        using var response = await SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw new CliException(CliApp.Failed, $"{(int)response.StatusCode} {ErrorMessage(Parse(await response.Content.ReadAsStringAsync(cancellationToken)))}");
        }

        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellationToken), Encoding.UTF8);
        var name = "message";
        var data = new StringBuilder();
        while (true)
        {
            string? line;
            try
            {
                line = await reader.ReadLineAsync(cancellationToken);
            }
            catch (IOException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new CliException(CliApp.Unreachable, $"the stream from {Url} broke off");
            }

            if (line is null)
            {
                yield break;
            }

            if (line.Length == 0)
            {
                if (data.Length > 0)
                {
                    yield return (name, Parse(data.ToString()));
                }

                (name, data) = ("message", data.Clear());
            }
            else if (line.StartsWith("event:", StringComparison.Ordinal))
            {
                name = line[6..].Trim();
            }
            else if (line.StartsWith("data:", StringComparison.Ordinal))
            {
                data.Append(data.Length > 0 ? "\n" : "").Append(line.AsSpan(line.StartsWith("data: ", StringComparison.Ordinal) ? 6 : 5));
            }
        }
    }

    private async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, HttpCompletionOption completion, CancellationToken cancellationToken)
    {
        try
        {
            return await _http.SendAsync(request, completion, cancellationToken);
        }
        catch (HttpRequestException e) when (e.StatusCode is null)
        {
            throw new CliException(CliApp.Unreachable, $"cannot reach {Url}: {(e.InnerException as SocketException)?.Message ?? e.Message}");
        }
        catch (TaskCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new CliException(CliApp.Unreachable, e.InnerException is TimeoutException
                ? $"{Url} did not answer within {_http.Timeout.TotalSeconds}s"
                : $"cannot reach {Url}: no connection within {ConnectTimeout.TotalSeconds}s");
        }
    }

    private static JsonElement Parse(string text)
    {
        if (text.Length == 0)
        {
            return default;
        }

        try
        {
            return JsonSerializer.Deserialize<JsonElement>(text);
        }
        catch (JsonException)
        {
            return JsonSerializer.SerializeToElement(text);
        }
    }

    public static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    /// <summary>The message of an error answer: <c>{"error": {"message"}}</c>, an app's <c>{"nack"}</c>, else the body.</summary>
    public static string ErrorMessage(JsonElement body) =>
        body.ValueKind == JsonValueKind.Object && body.TryGetProperty("error", out var e) && e.ValueKind == JsonValueKind.Object
            && e.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String
            ? m.GetString()!
            : body.ValueKind == JsonValueKind.Object && body.TryGetProperty("nack", out var nack) && nack.ValueKind == JsonValueKind.String
                ? nack.GetString()!
                : body.ValueKind == JsonValueKind.Undefined ? "(no body)" : body.GetRawText();

    /// <summary>Runs a verb's work: the one place that turns failures into a message on stderr and an exit code —
    /// <see cref="CliException"/> its own, bad input (<see cref="TrellisException"/> InvalidArgument) 2, another
    /// <see cref="TrellisException"/> or a file that cannot be read or written 1; Ctrl+C ends a verb with 0.</summary>
    public static async Task<int> RunAsync(ParseResult parse, Func<TextWriter, TextWriter, Task<int>> work, CancellationToken cancellationToken = default)
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
        catch (TrellisException e)
        {
            await error.WriteLineAsync($"trellis: {e.Message}");
            return e.Kind == ErrorKind.InvalidArgument ? CliApp.Usage : CliApp.Failed;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            await error.WriteLineAsync($"trellis: {e.Message}");
            return CliApp.Failed;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return CliApp.Ok;
        }
    }

    public void Dispose() => _http.Dispose();
}
