using Trellis.Api.Tests.Infrastructure;

namespace Trellis.Api.Tests;

/// <summary>Two gateways of one cluster on a real RabbitMQ broker (A, the all-in-one silo; B, an Orleans client of its
/// cluster): a node registered on either gateway is reachable from clients of the other, with the same group and wildcard
/// semantics as behind one gateway, and either gateway accepts the other's node tokens.</summary>
public sealed class ClusterTests : IAsyncLifetime
{
    // Topics unique to this test, so tests sharing the broker never see each other's messages.
    private readonly string _t = $"cl{Guid.NewGuid():N}"[..14];
    private TestGateway _gatewayA = null!;
    private TestGateway _gatewayB = null!;
    private PythonNode _a = null!;
    private PythonNode _b = null!;
    private PythonNode _client = null!;
    private RegisteredNode _clientOnB = null!;

    public async ValueTask InitializeAsync()
    {
        var settings = TestBroker.GatewaySettings(_t);
        _gatewayA = await TestGateway.StartAsync(settings: settings);
        _gatewayB = await TestGateway.StartAsync(settings: settings, role: "gateway", clusterOf: _gatewayA);
        _a = await PythonNode.StartAsync("a");
        _b = await PythonNode.StartAsync("b");
        _client = await PythonNode.StartAsync("client");

        // The client is a node of gateway B with no subscriptions of its own: it only publishes.
        _clientOnB = await _gatewayB.RegisterAsync(new { port = _client.Port });
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in new[] { _a, _b, _client })
        {
            if (node is not null)
            {
                await node.DisposeAsync();
            }
        }

        // The client gateway first: its silo going away first would fail what it still writes on the way out.
        if (_gatewayB is not null)
        {
            await _gatewayB.DisposeAsync();
        }

        if (_gatewayA is not null)
        {
            await _gatewayA.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_node_registered_on_gateway_A_answers_a_request_sent_through_gateway_B()
    {
        await _gatewayA.RegisterAsync(new { port = _a.Port, services = new object[] { new { topic = $"{_t}.echo", group = "_default", path = "/echo" } } });

        var reply = await RequestViaBAsync($"{_t}.echo", new { hello = "from B" });

        Assert.True(reply.Status == 200, $"request via B: {reply}");
        var message = reply.Json["messages"]![0]!;
        Assert.Equal(200, (int)message["code"]!);
        Assert.Equal("a", (string)message["data"]!["node"]!);
        Assert.Equal("from B", (string)message["data"]!["data"]!["hello"]!);
        Assert.Single(await _a.CallsAsync("/echo"));

        // A topic nobody serves on either gateway is still a 404 at once.
        var nobody = await RequestViaBAsync($"{_t}.nobody", 1);
        Assert.True(nobody.Status == 404, $"request for an unserved topic via B: {nobody}");
    }

    [Fact]
    public async Task Either_gateway_accepts_the_other_gateways_node_tokens_and_lists_every_node()
    {
        var onA = await _gatewayA.RegisterAsync(new { port = _a.Port, slots = new object[] { new { topic = $"{_t}.tok.*", path = "/record" } } });

        var read = await _gatewayB.GetAsync($"/nodes/{onA.Id}", onA.Token);
        Assert.True(read.Status == 200, $"GET /nodes/{{id}} of A's node through B: {read}");
        Assert.Equal(_a.Port, (int)read.Json["port"]!);
        var signal = await _gatewayB.PostAsync($"/signal/{onA.Id}", new { topic = $"{_t}.tok.one", message = 1 }, onA.Token);
        Assert.True(signal.Status == 200, $"POST /signal/{{id}} as A's node through B: {signal}");
        await _a.WaitForCallsAsync("/record", 1, "the signal sent as A's node through B");

        var app = $"tok-{_t}";
        var created = await _gatewayB.PostAsync("/apps", new { app, agent = "counter" }, onA.Token);
        Assert.True(created.Status == 201, $"POST /apps with A's node token through B: {created}");
        Assert.Equal(200, (await _gatewayA.PostAsync($"/apps/{app}:poke", new { mark = "add", data = new { by = 2 } }, _clientOnB.Token)).Status);
        Assert.Equal(2, (int)(await _gatewayB.PostAsync($"/apps/{app}:peek", new { path = "/count" }, onA.Token)).Json["count"]!);

        // Slots and services live on the gateway that serves the node: the other one says where to go.
        var elsewhere = await _gatewayB.PostAsync($"/nodes/{onA.Id}/slots", new { topic = $"{_t}.more", path = "/record" }, onA.Token);
        Assert.True(elsewhere.Status is >= 400 and < 500, $"adding a slot to A's node through B: {elsewhere}");
        Assert.Contains("served by another gateway", elsewhere.ErrorMessage);

        var all = await _gatewayB.GetAsync("/nodes", TestGateway.AdminToken);
        Assert.True(all.Status == 200, $"GET /nodes through B: {all}");
        var ids = all.Json["nodes"]!.AsArray().Select(n => (string)n!["id"]!).ToArray();
        Assert.Contains(onA.Id, ids);
        Assert.Contains(_clientOnB.Id, ids);
        Assert.Equal(403, (await _gatewayA.GetAsync("/nodes", onA.Token)).Status);

        // A third process, a second stateless gateway: the token of a node registered at gateway B works there too.
        await using var gatewayC = await TestGateway.StartAsync(settings: TestBroker.GatewaySettings(_t), role: "gateway", clusterOf: _gatewayA);
        var fromC = await gatewayC.GetAsync($"/nodes/{_clientOnB.Id}", _clientOnB.Token);
        Assert.True(fromC.Status == 200, $"GET /nodes/{{id}} of B's node through C: {fromC}");
        Assert.Equal(200, (await gatewayC.PostAsync($"/apps/{app}:poke", new { mark = "add", data = new { by = 1 } }, _clientOnB.Token)).Status);
        Assert.Equal(3, (int)(await gatewayC.PostAsync($"/apps/{app}:peek", new { path = "/count" }, onA.Token)).Json["count"]!);
    }

    [Fact]
    public async Task One_group_with_a_member_on_each_gateway_executes_each_request_exactly_once()
    {
        var service = new object[] { new { topic = $"{_t}.work", group = "workers", path = "/echo" } };
        var onA = await _gatewayA.RegisterAsync(new { port = _a.Port, services = service });
        await _gatewayB.RegisterAsync(new { port = _b.Port, services = service });

        // Half the requests enter through B (where a member lives), half through A (where the other one does).
        const int Requests = 40;
        var replies = await Task.WhenAll(Enumerable.Range(0, Requests).Select(i => i % 2 == 0
            ? RequestViaBAsync($"{_t}.work", i)
            : _gatewayA.PostAsync($"/request/{onA.Id}", new { topic = $"{_t}.work", message = i }, onA.Token)));

        Assert.All(replies, r => Assert.True(r.Status == 200, $"a group request: {r}"));
        Assert.All(replies, r => Assert.Equal(1, (int)r.Json["length"]!));
        var calls = (await _a.CallsAsync("/echo")).Concat(await _b.CallsAsync("/echo")).Select(c => (int)c["body"]!["data"]!).Order().ToArray();
        Assert.Equal(Enumerable.Range(0, Requests), calls);
        var answeredBy = replies.Select(r => (string)r.Json["messages"]![0]!["data"]!["node"]!).ToArray();
        Assert.Contains("a", answeredBy);
        Assert.Contains("b", answeredBy);
    }

    [Fact]
    public async Task Distinct_groups_on_different_gateways_each_execute_a_request_once()
    {
        await _gatewayA.RegisterAsync(new { port = _a.Port, services = new object[] { new { topic = $"{_t}.both", group = "left", path = "/echo" } } });
        await _gatewayB.RegisterAsync(new { port = _b.Port, services = new object[] { new { topic = $"{_t}.both", group = "right", path = "/echo" } } });

        for (var i = 0; i < 3; i++)
        {
            var reply = await RequestViaBAsync($"{_t}.both", i);
            Assert.True(reply.Status == 200, $"request {i} to two groups: {reply}");
            Assert.Equal(1, (int)reply.Json["length"]!);
        }

        await _a.WaitForCallsAsync("/echo", 3, "group left (on gateway A) to execute every request");
        await _b.WaitForCallsAsync("/echo", 3, "group right (on gateway B) to execute every request");

        // A last request that both groups have executed proves the earlier ones were not executed twice.
        Assert.Equal(200, (await RequestViaBAsync($"{_t}.both", 3)).Status);
        await _a.WaitForCallsAsync("/echo", 4, "group left to execute the last request");
        await _b.WaitForCallsAsync("/echo", 4, "group right to execute the last request");
        Assert.Equal([0, 1, 2, 3], (await _a.CallsAsync("/echo")).Select(c => (int)c["body"]!["data"]!).Order());
        Assert.Equal([0, 1, 2, 3], (await _b.CallsAsync("/echo")).Select(c => (int)c["body"]!["data"]!).Order());
    }

    [Fact]
    public async Task A_signal_sent_through_gateway_B_reaches_the_wildcard_slots_on_gateway_A()
    {
        await _gatewayA.RegisterAsync(new
        {
            port = _a.Port,
            slots = new object[] { new { topic = $"{_t}.*", path = "/record" }, new { topic = $"{_t}.user.created", group = "audit", path = "/audit" } },
        });
        await _gatewayA.RegisterAsync(new { port = _b.Port, slots = new object[] { new { topic = $"{_t}.user.*", path = "/record" } } });

        var sent = await _gatewayB.PostAsync($"/signal/{_clientOnB.Id}", new { topic = $"{_t}.user.created", message = new { id = 7 } }, _clientOnB.Token);
        Assert.True(sent.Status == 200, $"signal via B: {sent}");
        Assert.Equal("""{"status":"ok"}""", sent.Body);

        var record = await _a.WaitForAsync(e => (string?)e["path"] == "/record" && (string?)e["body"]?["topic"] == $"{_t}.user.created", $"{_t}.* on A to get the signal sent via B");
        Assert.Equal(7, (int)record["body"]!["data"]!["id"]!);
        await _b.WaitForAsync(e => (string?)e["path"] == "/record" && (string?)e["body"]?["topic"] == $"{_t}.user.created", $"{_t}.user.* on A to get the signal sent via B");
        await _a.WaitForCallsAsync("/audit", 1, "the audit group on A to get the signal sent via B");

        // t.order matches only t.*: once node a has it, a later signal node b does match proves b had its chance.
        Assert.Equal(200, (await SignalViaBAsync($"{_t}.order", 1)).Status);
        await _a.WaitForAsync(e => (string?)e["body"]?["topic"] == $"{_t}.order", $"{_t}.* on A to get {_t}.order");
        Assert.Equal(200, (await SignalViaBAsync($"{_t}.user.deleted", 2)).Status);
        await _b.WaitForAsync(e => (string?)e["body"]?["topic"] == $"{_t}.user.deleted", $"{_t}.user.* on A to get {_t}.user.deleted");
        Assert.DoesNotContain(await _b.CallsAsync("/record"), c => (string?)c["body"]!["topic"] == $"{_t}.order");
        Assert.Single(await _a.CallsAsync("/audit"));
        Assert.Single(await _b.CallsAsync("/record"), c => (string?)c["body"]!["topic"] == $"{_t}.user.created");
    }

    private Task<Response> RequestViaBAsync(string topic, object message) =>
        _gatewayB.PostAsync($"/request/{_clientOnB.Id}", new { topic, message, timeout = 10 }, _clientOnB.Token);

    private Task<Response> SignalViaBAsync(string topic, object message) =>
        _gatewayB.PostAsync($"/signal/{_clientOnB.Id}", new { topic, message }, _clientOnB.Token);
}
