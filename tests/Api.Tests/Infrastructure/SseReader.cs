using System.Net.Http.Headers;
using System.Text.Json.Nodes;

namespace Trellis.Api.Tests.Infrastructure;

/// <summary>One Server-Sent Event: its name and its JSON data.</summary>
public sealed record SseEvent(string Name, JsonNode? Data);

/// <summary>Reads a Server-Sent Events stream opened on the gateway; dispose it to close the stream.</summary>
public sealed class SseReader : IAsyncDisposable
{
    private readonly HttpResponseMessage _response;
    private readonly StreamReader _reader;

    private SseReader(HttpResponseMessage response, Stream stream)
    {
        _response = response;
        _reader = new StreamReader(stream);
    }

    public int Status => (int)_response.StatusCode;

    /// <summary>Keep-alive comments seen so far.</summary>
    public int Comments { get; private set; }

    public static async Task<SseReader> OpenAsync(HttpClient http, string path, string? token)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, TestContext.Current.CancellationToken);
        return new SseReader(response, await response.Content.ReadAsStreamAsync(TestContext.Current.CancellationToken));
    }

    /// <summary>The next event, or null when the stream ended.</summary>
    public async Task<SseEvent?> NextAsync(string what, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(20));
        string? name = null;
        string? data = null;
        while (true)
        {
            string? line;
            try
            {
                line = await _reader.ReadLineAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"timed out waiting for {what}");
            }

            if (line is null)
            {
                return null;
            }

            if (line.Length == 0)
            {
                if (name is not null)
                {
                    return new SseEvent(name, data is null ? null : JsonNode.Parse(data));
                }

                continue;
            }

            if (line.StartsWith(':'))
            {
                Comments++;
            }
            else if (line.StartsWith("event: ", StringComparison.Ordinal))
            {
                name = line["event: ".Length..];
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                data = line["data: ".Length..];
            }
        }
    }

    public async Task<string> BodyAsync() => await _reader.ReadToEndAsync(TestContext.Current.CancellationToken);

    public ValueTask DisposeAsync()
    {
        _reader.Dispose();
        _response.Dispose();
        return ValueTask.CompletedTask;
    }
}
