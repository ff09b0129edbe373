using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;
using Trellis.Edge.Local;
using Trellis.TestKit;

namespace Trellis.Edge.Tests.Local;

public sealed class LocalHttpServerTests : IAsyncLifetime
{
    private readonly TempFolder _home = new();
    private readonly LocalRouter _router = new();
    private readonly TaskCompletionSource _streamCancelled = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private LocalHttpServer _server = null!;

    private string SocketPath => _home.File("agent.sock");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _router.Map("GET", "/v1/echo", static (request, _, _) => Task.FromResult(LocalResponse.Ok(new JsonObject
        {
            ["method"] = request.Method,
            ["path"] = request.Path,
            ["query"] = new JsonObject([.. request.Query.Select(static q => KeyValuePair.Create(q.Key, (JsonNode?)q.Value))]),
        })));
        _router.Map("POST", "/v1/echo", static (request, _, _) => Task.FromResult(new LocalResponse(200, request.Body, "text/plain")));
        _router.Map("GET", "/v1/items/{name}", static (_, route, _) => Task.FromResult(LocalResponse.Ok(new JsonObject { ["name"] = route["name"] })));
        _router.Map("GET", "/v1/stream", (_, _, _) => Task.FromResult(new LocalResponse(200, [], "text/plain")
        {
            Stream = async (body, cancellationToken) =>
            {
                try
                {
                    for (var i = 0; ; i++)
                    {
                        await body.WriteAsync(Encoding.UTF8.GetBytes($"tick {i}\n"), cancellationToken);
                        await body.FlushAsync(cancellationToken);
                        await Task.Delay(20, cancellationToken);
                    }
                }
                catch (Exception e) when (e is OperationCanceledException or IOException)
                {
                    // Cancelled when the server sees the client go, or a failed write if the write sees it first.
                    _streamCancelled.TrySetResult();
                    throw;
                }
            },
        }));
        _router.Map("GET", "/v1/short-stream", static (_, _, _) => Task.FromResult(new LocalResponse(200, [], "text/plain")
        {
            Stream = static async (body, cancellationToken) =>
            {
                await body.WriteAsync("one\n"u8.ToArray(), cancellationToken);
                await body.WriteAsync("two\n"u8.ToArray(), cancellationToken);
            },
        }));
        _server = await LocalHttpServer.StartAsync(_router, SocketPath, 0, NullLogger.Instance, Ct);
    }

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        _home.Dispose();
    }

    [Fact]
    public async Task Serves_the_router_on_the_unix_socket_with_a_decoded_query()
    {
        using var client = new LocalClient(SocketPath);
        var (status, body) = await client.SendAsync(HttpMethod.Get, "/v1/echo?a=1&b=x%20y&c=a+b&d&e=%C3%BC", cancellationToken: Ct).Within("GET /v1/echo");
        Assert.Equal(200, status);
        var json = JsonNode.Parse(body)!;
        Assert.Equal("/v1/echo", (string)json["path"]!);
        Assert.Equal("""{"a":"1","b":"x y","c":"a b","d":"","e":"ü"}""", json["query"]!.ToJsonString(new System.Text.Json.JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));

        var (postStatus, echoed) = await client.SendAsync(HttpMethod.Post, "/v1/echo", new JsonObject { ["hello"] = "wörld" }, Ct).Within("POST /v1/echo");
        Assert.Equal((200, "wörld"), (postStatus, (string)JsonNode.Parse(echoed)!["hello"]!));

        var (itemStatus, item) = await client.SendAsync(HttpMethod.Get, "/v1/items/a%2Fb", cancellationToken: Ct).Within("GET /v1/items/a%2Fb");
        Assert.Equal((200, "a/b"), (itemStatus, (string)JsonNode.Parse(item)!["name"]!));

        var (missing, error) = await client.SendAsync(HttpMethod.Get, "/v1/nothing", cancellationToken: Ct).Within("GET /v1/nothing");
        Assert.Equal(404, missing);
        Assert.Equal("not_found", (string)JsonNode.Parse(error)!["error"]!["code"]!);
    }

    [Fact]
    public async Task Serves_the_same_on_loopback_tcp_on_the_port_the_os_picked()
    {
        Assert.True(_server.HttpPort is > 0);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{_server.HttpPort}/") };
        for (var i = 0; i < 3; i++)
        {
            var body = await http.GetStringAsync($"v1/echo?i={i}", Ct).Within("GET over TCP");
            Assert.Equal(i.ToString(), (string)JsonNode.Parse(body)!["query"]!["i"]!);
        }

        using var big = new ByteArrayContent(new byte[HttpBodyLimit]);
        using var response = await http.PostAsync("v1/echo", big, Ct).Within("a POST of exactly the body limit");
        Assert.Equal(HttpBodyLimit, (await response.Content.ReadAsByteArrayAsync(Ct)).Length);
    }

    private const int HttpBodyLimit = 4 * 1024 * 1024;

    [Fact]
    public async Task Keeps_the_connection_alive_for_pipelined_requests()
    {
        var answer = await RawAsync(
            "GET /v1/echo?n=1 HTTP/1.1\r\nHost: agent\r\n\r\n" +
            "POST /v1/echo HTTP/1.1\r\nHost: agent\r\nContent-Length: 5\r\n\r\nhello" +
            "GET /v1/echo?n=3 HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n");
        Assert.Equal(3, CountOf(answer, "HTTP/1.1 200 OK"));
        Assert.Contains("\"n\":\"1\"", answer);
        Assert.Contains("\r\n\r\nhello", answer);
        Assert.Contains("\"n\":\"3\"", answer);
        Assert.Contains("Connection: close", answer);
    }

    [Theory]
    [InlineData("hello there\r\n\r\n", "400 Bad Request", "request line")]
    [InlineData("GET nothing HTTP/1.1\r\n\r\n", "400 Bad Request", "a path starting with")]
    [InlineData("GET / HTTP/2.0\r\n\r\n", "505", "HTTP/2.0")]
    [InlineData("GET /v1/echo HTTP/1.1\r\nbroken header\r\n\r\n", "400 Bad Request", "header line 1")]
    [InlineData("POST /v1/echo HTTP/1.1\r\nContent-Length: many\r\n\r\n", "400 Bad Request", "Content-Length")]
    [InlineData("POST /v1/echo HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "400 Bad Request", "two different")]
    [InlineData("POST /v1/echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "411 Length Required", "Content-Length")]
    [InlineData("POST /v1/echo HTTP/1.1\r\nContent-Length: 5000000\r\n\r\n", "413", "limit")]
    [InlineData("GET /v1/echo HTTP/1.1\nHost: x\n\n", "400 Bad Request", "CRLF")]
    public async Task Refuses_bad_requests_with_a_clear_error_and_keeps_serving(string request, string status, string message)
    {
        var answer = await RawAsync(request);
        Assert.StartsWith("HTTP/1.1 " + status, answer);
        Assert.Contains(message, answer);
        await AssertStillServesAsync();
    }

    [Fact]
    public async Task Refuses_oversized_heads_and_bodies_sent_by_a_real_client()
    {
        var answer = await RawAsync("GET /v1/echo HTTP/1.1\r\nX-Big: " + new string('a', 20_000) + "\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 431", answer);

        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{_server.HttpPort}/") };
        using var tooBig = new ByteArrayContent(new byte[HttpBodyLimit + 1]);
        using var response = await http.PostAsync("v1/echo", tooBig, Ct).Within("a POST over the body limit");
        Assert.Equal(413, (int)response.StatusCode);
        Assert.Contains("4194304", await response.Content.ReadAsStringAsync(Ct));
        await AssertStillServesAsync();
    }

    [Fact]
    public async Task Survives_garbage_half_requests_and_clients_that_vanish()
    {
        var random = new Random(12);
        for (var i = 0; i < 20; i++)
        {
            var bytes = new byte[random.Next(1, 3000)];
            random.NextBytes(bytes);
            using var socket = await ConnectAsync();
            await socket.SendAsync(bytes, SocketFlags.None, Ct);
        }

        using (var half = await ConnectAsync())
        {
            await half.SendAsync("GET /v1/echo HTTP/1.1\r\nHost: agent\r\n"u8.ToArray(), SocketFlags.None, Ct);
        }

        using (var halfBody = await ConnectAsync())
        {
            await halfBody.SendAsync("POST /v1/echo HTTP/1.1\r\nContent-Length: 100\r\n\r\nonly a few"u8.ToArray(), SocketFlags.None, Ct);
        }

        using var slow = await ConnectAsync();
        await slow.SendAsync("GET /v1/ec"u8.ToArray(), SocketFlags.None, Ct);
        await AssertStillServesAsync();
    }

    [Fact]
    public async Task Streams_a_chunked_answer_until_the_client_goes_away()
    {
        using var client = new LocalClient(SocketPath);
        using (var response = await client.OpenStreamAsync("/v1/stream", Ct).Within("the stream's headers"))
        {
            Assert.True(response.Headers.TransferEncodingChunked);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(Ct));
            Assert.Equal("tick 0", await reader.ReadLineAsync(Ct).AsTask().Within("the first tick"));
            Assert.Equal("tick 1", await reader.ReadLineAsync(Ct).AsTask().Within("the second tick"));
        }

        await _streamCancelled.Task.Within("the server to notice the stream's client went away");

        var (status, body) = await client.SendAsync(HttpMethod.Get, "/v1/short-stream", cancellationToken: Ct).Within("a stream that ends");
        Assert.Equal((200, "one\ntwo\n"), (status, body));
    }

    [Fact]
    public async Task Another_agent_on_the_socket_is_refused_and_a_stale_socket_is_replaced()
    {
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => LocalHttpServer.StartAsync(_router, SocketPath, -1, NullLogger.Instance, Ct));
        Assert.Contains("another agent answers on " + SocketPath, e.Message);
        await AssertStillServesAsync();

        var stale = _home.File("stale.sock");
        // What a killed agent leaves behind: a path nothing answers on (.NET unlinks the sockets it closes itself).
        await File.WriteAllTextAsync(stale, "", Ct);

        Assert.True(File.Exists(stale));
        await using var second = await LocalHttpServer.StartAsync(_router, stale, -1, NullLogger.Instance, Ct);
        Assert.Null(second.HttpPort);
        using var client = new LocalClient(stale);
        Assert.Equal(200, (await client.SendAsync(HttpMethod.Get, "/v1/echo", cancellationToken: Ct).Within("GET on the replaced socket")).Status);
        await second.DisposeAsync();
        Assert.False(File.Exists(stale));
    }

    [Fact]
    public async Task Curl_reaches_it_over_the_unix_socket()
    {
        var curl = new[] { "/usr/bin/curl", "/bin/curl", "/usr/local/bin/curl" }.FirstOrDefault(File.Exists);
        Assert.SkipWhen(curl is null, "curl is not installed");
        var start = new ProcessStartInfo(curl!, ["-s", "-S", "--unix-socket", SocketPath, "-X", "POST", "-H", "Content-Type: application/json", "-d", "{\"via\":\"curl\"}", "http://agent/v1/echo"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        var output = await process.StandardOutput.ReadToEndAsync(Ct).Within("curl's output");
        await process.WaitForExitAsync(Ct).Within("curl to exit");
        Assert.Equal(0, process.ExitCode);
        Assert.Equal("{\"via\":\"curl\"}", output);
    }

    private async Task AssertStillServesAsync()
    {
        using var client = new LocalClient(SocketPath);
        var (status, _) = await client.SendAsync(HttpMethod.Get, "/v1/echo?still=1", cancellationToken: Ct).Within("a normal request after bad ones");
        Assert.Equal(200, status);
    }

    private async Task<Socket> ConnectAsync()
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(SocketPath), Ct);
        return socket;
    }

    /// <summary>Sends <paramref name="request"/> as it is and reads until the server closes.</summary>
    private async Task<string> RawAsync(string request)
    {
        using var socket = await ConnectAsync();
        await socket.SendAsync(Encoding.Latin1.GetBytes(request), SocketFlags.None, Ct);
        using var stream = new NetworkStream(socket);
        using var all = new MemoryStream();
        await stream.CopyToAsync(all, Ct).Within("the server to answer and close");
        return Encoding.UTF8.GetString(all.ToArray());
    }

    private static int CountOf(string text, string part)
    {
        var count = 0;
        for (var i = text.IndexOf(part, StringComparison.Ordinal); i >= 0; i = text.IndexOf(part, i + 1, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }
}
