using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;
using Trellis.Edge.Daemon;
using Trellis.Edge.Local;
using Trellis.Edge.Services;
using Trellis.TestKit;

namespace Trellis.Edge.Tests.Services;

/// <summary>The service routes end to end: two agents (EdgeServices + LocalHttpServer) sharing a LAN port.</summary>
public sealed class ServiceRoutesTests : IAsyncLifetime
{
    private readonly TempFolder _homeA = new();
    private readonly TempFolder _homeB = new();
    private readonly int _lanPort = FreeUdpPort();
    private Agent _a = null!;
    private Agent _b = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _a = await Agent.StartAsync(_homeA.Path, "agent-a", _lanPort);
        _b = await Agent.StartAsync(_homeB.Path, "agent-b", _lanPort);
    }

    public async ValueTask DisposeAsync()
    {
        await _a.DisposeAsync();
        await _b.DisposeAsync();
        _homeA.Dispose();
        _homeB.Dispose();
    }

    [Fact]
    public async Task Publish_list_discover_across_agents_and_unpublish()
    {
        var (status, body) = await _a.Client.SendAsync(HttpMethod.Post, "/v1/services", new JsonObject
        {
            ["publisher"] = "acme",
            ["service"] = "echo",
            ["url"] = "http://0.0.0.0:8080/echo",
        }, Ct).Within("POST /v1/services on a");
        Assert.Equal(201, status);
        Assert.Equal("""{"publisher":"acme","service":"echo","url":"http://0.0.0.0:8080/echo","scopes":["os","lan","wan"]}""", body);
        Assert.Equal(201, (await _b.Client.SendAsync(HttpMethod.Post, "/v1/services", new JsonObject
        {
            ["publisher"] = "acme",
            ["service"] = "echo",
            ["url"] = "http://127.0.0.1:9090/",
            ["scopes"] = new JsonArray("os", "lan"),
        }, Ct)).Status);

        var (_, listed) = await _a.Client.SendAsync(HttpMethod.Get, "/v1/services", cancellationToken: Ct);
        Assert.Equal("echo", (string)JsonNode.Parse(listed)!.AsArray().Single()!["service"]!);

        var (discoverStatus, discovered) = await _b.Client.SendAsync(HttpMethod.Get, "/v1/discover?publisher=acme&service=e*&scope=os,lan", cancellationToken: Ct).Within("discover on b");
        Assert.Equal(200, discoverStatus);
        var found = JsonNode.Parse(discovered)!.AsArray();
        Assert.Equal(["os agent-b http://127.0.0.1:9090/", "lan agent-a"], found.Select(static f => $"{f!["scope"]} {f["provider"]}{((string)f["scope"]! == "os" ? " " + f["address"] : "")}"));
        Assert.DoesNotContain("0.0.0.0", (string)found[1]!["address"]!);
        Assert.EndsWith(":8080/echo", (string)found[1]!["address"]!);

        var (deleted, _) = await _a.Client.SendAsync(HttpMethod.Delete, "/v1/services/acme/echo", cancellationToken: Ct);
        Assert.Equal(200, deleted);
        var (again, error) = await _a.Client.SendAsync(HttpMethod.Delete, "/v1/services/acme/echo", cancellationToken: Ct);
        Assert.Equal(404, again);
        Assert.Contains("acme/echo is not published", error);
    }

    [Fact]
    public async Task Published_services_survive_a_restart_of_the_agent()
    {
        await _a.Client.SendAsync(HttpMethod.Post, "/v1/services", new JsonObject { ["publisher"] = "acme", ["service"] = "keep", ["url"] = "http://127.0.0.1:1/" }, Ct);
        await _a.DisposeAsync();
        _a = await Agent.StartAsync(_homeA.Path, "agent-a", _lanPort);

        var (_, listed) = await _a.Client.SendAsync(HttpMethod.Get, "/v1/services", cancellationToken: Ct);
        Assert.Equal("keep", (string)JsonNode.Parse(listed)!.AsArray().Single()!["service"]!);
        var (_, found) = await _b.Client.SendAsync(HttpMethod.Get, "/v1/discover?publisher=acme&service=keep&scope=lan", cancellationToken: Ct);
        Assert.Equal("agent-a", (string)JsonNode.Parse(found)!.AsArray().Single()!["provider"]!);
    }

    [Theory]
    [InlineData("POST", "/v1/services", "[1]", 400, "JSON object")]
    [InlineData("POST", "/v1/services", "{oops", 400, "not JSON")]
    [InlineData("POST", "/v1/services", """{"service":"s","url":"http://h/"}""", 400, "publisher is missing")]
    [InlineData("POST", "/v1/services", """{"publisher":"p_1","service":"s","url":"http://h/"}""", 400, "publisher 'p_1' contains '_'")]
    [InlineData("POST", "/v1/services", """{"publisher":"p","service":"s s","url":"http://h/"}""", 400, "service 's s' contains whitespace")]
    [InlineData("POST", "/v1/services", """{"publisher":"p","service":"s","url":"ftp://h/"}""", 400, "url 'ftp://h/' is not an absolute http:// URL")]
    [InlineData("POST", "/v1/services", """{"publisher":"p","service":"s","url":"http://h/","scopes":["os","moon"]}""", 400, "unknown scope 'moon'")]
    [InlineData("POST", "/v1/services", """{"publisher":"p","service":"s","url":"http://h/","scopes":"os"}""", 400, "scopes must be an array")]
    [InlineData("DELETE", "/v1/services/p_x/s", "", 400, "publisher 'p_x'")]
    [InlineData("GET", "/v1/discover?publisher=a/b", "", 400, "publisher 'a/b'")]
    [InlineData("GET", "/v1/discover?scope=os,mars", "", 400, "unknown scope 'mars'")]
    [InlineData("GET", "/v1/discover?timeout=soon", "", 400, "timeout 'soon'")]
    [InlineData("GET", "/v1/discover?timeout=-1", "", 400, "timeout '-1'")]
    public async Task Bad_input_is_400_naming_the_problem(string method, string path, string body, int status, string message)
    {
        var router = new LocalRouter();
        var table = new ServiceTable(_homeA.Path, NullLogger.Instance);
        ServiceRoutes.Map(router, table, new Discovery("self", table, (LanRegistry?)null, null, NullLogger.Instance));
        var (path0, query) = Split(path);
        var response = await router.DispatchAsync(new LocalRequest(method, path0, query, System.Text.Encoding.UTF8.GetBytes(body)), Ct);
        Assert.Equal(status, response.Status);
        var error = (string)JsonNode.Parse(response.Body)!["error"]!["message"]!;
        Assert.Contains(message, error);
    }

    [Fact]
    public async Task A_taken_name_is_409_and_services_may_be_listed_by_the_cluster()
    {
        var json = new JsonObject { ["publisher"] = "p", ["service"] = "s", ["url"] = "http://h/" };
        Assert.Equal(201, (await _a.Client.SendAsync(HttpMethod.Post, "/v1/services", json, Ct)).Status);
        var (status, body) = await _a.Client.SendAsync(HttpMethod.Post, "/v1/services", json.DeepClone(), Ct);
        Assert.Equal(409, status);
        Assert.Contains("already_exists", body);

        var fromCluster = await _a.Router.DispatchAsync(new LocalRequest("GET", "/v1/services", new Dictionary<string, string>(), [], FromCluster: true), Ct);
        Assert.Equal(200, fromCluster.Status);
        var publish = await _a.Router.DispatchAsync(new LocalRequest("POST", "/v1/services", new Dictionary<string, string>(), [], FromCluster: true), Ct);
        Assert.Equal(403, publish.Status);
    }

    [Fact]
    public async Task The_agent_lists_its_lan_registry_as_a_builtin_service()
    {
        var (_, body) = await _a.Client.SendAsync(HttpMethod.Get, "/v1/discover?publisher=builtin&service=*&scope=process", cancellationToken: Ct);
        var found = JsonNode.Parse(body)!.AsArray().Single()!;
        Assert.Equal(("lanregistry", "process", $"udp://0.0.0.0:{_lanPort}"), ((string)found["service"]!, (string)found["scope"]!, (string)found["address"]!));
    }

    private static (string, Dictionary<string, string>) Split(string target)
    {
        var query = new Dictionary<string, string>();
        var mark = target.IndexOf('?');
        if (mark < 0)
        {
            return (target, query);
        }

        foreach (var pair in target[(mark + 1)..].Split('&'))
        {
            var eq = pair.IndexOf('=');
            query[pair[..eq]] = Uri.UnescapeDataString(pair[(eq + 1)..]);
        }

        return (target[..mark], query);
    }

    private static int FreeUdpPort()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        probe.Bind(new IPEndPoint(IPAddress.Any, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }

    /// <summary>What the daemon composes for services: a router, EdgeServices and the local HTTP server.</summary>
    private sealed class Agent : IAsyncDisposable
    {
        private EdgeServices _services = null!;
        private LocalHttpServer _server = null!;

        public LocalRouter Router { get; } = new();

        public LocalClient Client { get; private set; } = null!;

        public static async Task<Agent> StartAsync(string home, string provider, int lanPort)
        {
            var agent = new Agent();
            var options = new EdgeOptions { WorkDir = home, LanPort = lanPort, HttpPort = 0 };
            agent._services = EdgeServices.Start(options, provider, agent.Router, null, NullLogger.Instance, new DiscoveryOptions { LanWindow = TimeSpan.FromSeconds(1) });
            agent._server = await LocalHttpServer.StartAsync(agent.Router, options.Socket, -1, NullLogger.Instance, Ct);
            agent.Client = new LocalClient(options.Socket);
            return agent;
        }

        public async ValueTask DisposeAsync()
        {
            Client.Dispose();
            await _server.DisposeAsync();
            await _services.DisposeAsync();
        }
    }
}
