using Trellis.Api.Tests.Infrastructure;

namespace Trellis.Api.Tests;

/// <summary>Node-scoped tokens: a node manages and publishes only as itself; the admin token may do anything.</summary>
public sealed class AuthTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;
    private PythonNode _python = null!;
    private RegisteredNode _mine = null!;
    private RegisteredNode _other = null!;

    public async ValueTask InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync();
        _python = await PythonNode.StartAsync("auth");
        _mine = await _gateway.RegisterAsync(new { port = _python.Port, services = new object[] { new { topic = "auth.echo", group = "_default", path = "/echo" } } });
        _other = await _gateway.RegisterAsync(new { port = _python.Port });
    }

    public async ValueTask DisposeAsync()
    {
        await _python.DisposeAsync();
        await _gateway.DisposeAsync();
    }

    private IEnumerable<Func<string?, Task<Response>>> EveryNodeRoute(string id) =>
    [
        t => _gateway.GetAsync($"/nodes/{id}", t),
        t => _gateway.GetAsync($"/nodes/{id}/slots", t),
        t => _gateway.GetAsync($"/nodes/{id}/services", t),
        t => _gateway.PostAsync($"/nodes/{id}/slots", new { topic = "auth.s", path = "/record" }, t),
        t => _gateway.PostAsync($"/nodes/{id}/services", new { topic = "auth.t", group = "g", path = "/echo" }, t),
        t => _gateway.DeleteAsync($"/nodes/{id}/slots?topic=auth.s", t),
        t => _gateway.DeleteAsync($"/nodes/{id}/services?topic=auth.t", t),
        t => _gateway.PostAsync($"/request/{id}", new { topic = "auth.echo" }, t),
        t => _gateway.PostAsync($"/signal/{id}", new { topic = "auth.signal" }, t),
        t => _gateway.DeleteAsync($"/nodes/{id}", t),
    ];

    [Fact]
    public async Task Missing_or_bad_tokens_get_401_with_a_challenge()
    {
        foreach (var route in EveryNodeRoute(_mine.Id))
        {
            var missing = await route(null);
            Assert.Equal(401, missing.Status);
            Assert.Equal("Bearer realm=\"trellis\"", missing.WwwAuthenticate);
            Assert.Contains("Authorization: Bearer <token> is required", missing.ErrorMessage);
            Assert.Equal("UNAUTHENTICATED", missing.ErrorCode);

            var bad = await route("not-a-token");
            Assert.Equal(401, bad.Status);
            Assert.Equal("Bearer realm=\"trellis\", error=\"invalid_token\"", bad.WwwAuthenticate);
        }

        var basic = await _gateway.SendAsync(HttpMethod.Get, $"/nodes/{_mine.Id}");
        Assert.Equal(401, basic.Status);
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/nodes/{_mine.Id}");
        request.Headers.TryAddWithoutValidation("Authorization", "Basic dXNlcjpwYXNz");
        using var response = await _gateway.Http.SendAsync(request, TestContext.Current.CancellationToken);
        Assert.Equal(401, (int)response.StatusCode);
        Assert.Contains("Bearer scheme", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Another_nodes_token_gets_403()
    {
        foreach (var route in EveryNodeRoute(_mine.Id))
        {
            var denied = await route(_other.Token);
            Assert.Equal(403, denied.Status);
            Assert.Equal("PERMISSION_DENIED", denied.ErrorCode);
            Assert.Contains("belongs to another node", denied.ErrorMessage);
        }

        // Nothing changed: the node still answers to its own token.
        Assert.Equal(200, (await _gateway.PostAsync($"/request/{_mine.Id}", new { topic = "auth.echo" }, _mine.Token)).Status);
    }

    [Fact]
    public async Task The_admin_token_may_manage_and_publish_as_any_node()
    {
        foreach (var route in EveryNodeRoute(_mine.Id))
        {
            var allowed = await route(TestGateway.AdminToken);
            Assert.True(allowed.Status == 200, $"admin got {allowed}");
        }

        // The admin deleted the node last: its own token no longer works, and unknown ids are 404 for the admin.
        Assert.Equal(401, (await _gateway.GetAsync($"/nodes/{_mine.Id}", _mine.Token)).Status);
        var unknown = await _gateway.GetAsync($"/nodes/{_mine.Id}", TestGateway.AdminToken);
        Assert.Equal(404, unknown.Status);
        Assert.Equal($"no node with id {_mine.Id}", unknown.ErrorMessage);
        var malformed = await _gateway.GetAsync("/nodes/XYZ", TestGateway.AdminToken);
        Assert.Equal(404, malformed.Status);
        Assert.Contains("32 lowercase hex characters", malformed.ErrorMessage);
    }

    [Fact]
    public async Task Each_request_of_a_keep_alive_connection_is_checked_against_the_token_it_presents()
    {
        // One connection for every request below (a connection keeps the hash of the last token it presented).
        var connections = 0;
        using var handler = new SocketsHttpHandler
        {
            MaxConnectionsPerServer = 1,
            ConnectCallback = async (context, ct) =>
            {
                Interlocked.Increment(ref connections);
                var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp) { NoDelay = true };
                await socket.ConnectAsync(context.DnsEndPoint, ct);
                return new System.Net.Sockets.NetworkStream(socket, ownsSocket: true);
            },
        };
        using var http = new HttpClient(handler) { BaseAddress = _gateway.Address };
        async Task<int> Send(HttpMethod method, string path, string token)
        {
            using var request = new HttpRequestMessage(method, path);
            request.Headers.TryAddWithoutValidation("Authorization", $"Bearer {token}");
            if (method == HttpMethod.Post)
            {
                request.Content = new StringContent("""{"topic":"auth.echo"}""", System.Text.Encoding.UTF8, "application/json");
            }

            using var response = await http.SendAsync(request, TestContext.Current.CancellationToken);
            return (int)response.StatusCode;
        }

        Assert.Equal(200, await Send(HttpMethod.Post, $"/request/{_mine.Id}", _mine.Token));
        Assert.Equal(200, await Send(HttpMethod.Post, $"/request/{_mine.Id}", _mine.Token));
        Assert.Equal(403, await Send(HttpMethod.Post, $"/request/{_mine.Id}", _other.Token));
        Assert.Equal(401, await Send(HttpMethod.Post, $"/request/{_mine.Id}", "not-a-token"));
        Assert.Equal(200, await Send(HttpMethod.Post, $"/request/{_mine.Id}", _mine.Token));

        // The node deletes itself: the very token this connection just presented stops working at once.
        Assert.Equal(200, await Send(HttpMethod.Delete, $"/nodes/{_mine.Id}", _mine.Token));
        Assert.Equal(401, await Send(HttpMethod.Post, $"/request/{_mine.Id}", _mine.Token));
        Assert.Equal(401, await Send(HttpMethod.Get, $"/nodes/{_mine.Id}", _mine.Token));
        Assert.Equal(200, await Send(HttpMethod.Get, $"/nodes/{_other.Id}", _other.Token));
        Assert.Equal(1, connections);
    }
}
