using System.Text.Json.Nodes;
using Trellis.Api.Tests.Infrastructure;
using static Trellis.Api.Tests.Flows.FlowsTesting;

namespace Trellis.Api.Tests.Flows;

/// <summary>The flows HTTP API on a real gateway (all-in-one, in-memory flow broker): participants, graphs, send and dump.</summary>
public sealed class FlowsApiTests
{
    [Fact]
    public async Task A_node_with_ports_is_listed_as_a_participant()
    {
        await using var gateway = await TestGateway.StartAsync();
        await using var node = await PythonNode.StartAsync("worker");
        var role = Unique("worker");
        var registered = await gateway.RegisterAsync(new
        {
            port = node.Port,
            role,
            component = "tests/Worker",
            inports = new object[] { new { id = "in", path = "/echo", type = "object", description = "work to do" } },
            outports = new object[] { new { id = "out" } },
        });

        var list = await WaitForParticipantsAsync(gateway, role);
        var p = list.Single(p => (string?)p!["role"] == role)!;
        Assert.Equal($"{role}-{registered.Id}", (string?)p["id"]);
        Assert.Equal("tests/Worker", (string?)p["component"]);
        Assert.Equal("online", (string?)p["status"]);
        Assert.Equal("in", (string?)p["inports"]![0]!["id"]);
        Assert.Equal($"{role}.IN", (string?)p["inports"]![0]!["queue"]);
        Assert.Equal("object", (string?)p["inports"]![0]!["type"]);
        Assert.Equal($"{role}.OUT", (string?)p["outports"]![0]!["queue"]);
        Assert.NotNull(p["firstSeen"]);
        Assert.NotNull(p["lastSeen"]);
    }

    [Fact]
    public async Task A_json_graph_is_set_read_listed_and_cleared()
    {
        await using var gateway = await TestGateway.StartAsync();
        var name = $"tests/{Unique("graph")}";
        var a = Unique("a");
        var b = Unique("b");
        var graph = Graph([(a, "A"), (b, "B")], (a, "out", b, "in"));

        var set = await gateway.SendAsync(HttpMethod.Put, $"/flows/graphs/{name}", graph, Admin);
        Assert.True(set.Status == 200, set.Body);
        Assert.Equal([a, b], set.Json["pending"]!.AsArray().Select(n => (string)n!).Order());
        Assert.NotNull(set.Json["bindings"]!.AsArray());
        Assert.NotNull(set.Json["lines"]!.AsArray());
        Assert.Empty(set.Json["problems"]!.AsArray());

        var read = await gateway.GetAsync($"/flows/graphs/{name}", Admin);
        Assert.Equal(200, read.Status);
        Assert.Equal("A", (string?)read.Json["processes"]![a]!["component"]);
        Assert.Single(read.Json["connections"]!.AsArray());

        var setup = await gateway.GetAsync($"/flows/setups/{name}", Admin);
        Assert.Equal(200, setup.Status);
        Assert.Equal(2, setup.Json["pending"]!.AsArray().Count);

        var names = await gateway.GetAsync("/flows/graphs", Admin);
        Assert.Contains(name, names.Json.AsArray().Select(n => (string)n!));

        var cleared = await gateway.DeleteAsync($"/flows/graphs/{name}", Admin);
        Assert.Equal(200, cleared.Status);
        Assert.Empty(cleared.Json["pending"]!.AsArray());
        var empty = await gateway.GetAsync($"/flows/graphs/{name}", Admin);
        Assert.Empty(empty.Json["processes"]!.AsObject());
    }

    [Fact]
    public async Task An_fbp_graph_is_parsed_and_set()
    {
        await using var gateway = await TestGateway.StartAsync();
        var name = Unique("fbp");
        var a = Unique("a");
        var b = Unique("b");
        var fbp = $"{a}(A) OUT -> IN {b}(B)\n";
        foreach (var type in new[] { "text/x-fbp", "text/plain; charset=utf-8" })
        {
            var set = await gateway.SendAsync(HttpMethod.Put, $"/flows/graphs/{name}", fbp, Admin, type);
            Assert.True(set.Status == 200, set.Body);
            var read = await gateway.GetAsync($"/flows/graphs/{name}", Admin);
            Assert.Equal("B", (string?)read.Json["processes"]![b]!["component"]);
            Assert.Equal("in", (string?)read.Json["connections"]![0]!["tgt"]!["port"]);
        }
    }

    [Fact]
    public async Task Messages_sent_to_a_queue_are_dumped_in_order()
    {
        await using var gateway = await TestGateway.StartAsync();
        var queue = await DeclareQueueAsync(gateway, Unique("dump"));
        for (var i = 0; i < 3; i++)
        {
            var sent = await gateway.PostAsync($"/flows/queues/{queue}/messages", new { i }, Admin);
            Assert.True(sent.Status == 202, sent.Body);
            Assert.Equal(queue, (string?)sent.Json["queue"]);
        }

        var first = await gateway.SendAsync(HttpMethod.Post, $"/flows/queues/{queue}/dump?amount=2&timeout=10s", token: Admin);
        Assert.True(first.Status == 200, first.Body);
        Assert.Equal([0, 1], first.Json.AsArray().Select(m => (int)m!["i"]!));

        var rest = await gateway.SendAsync(HttpMethod.Post, $"/flows/queues/{queue}/dump", token: Admin);
        Assert.Equal(200, rest.Status);
        Assert.Equal(2, (int)rest.Json.AsArray().Single()!["i"]!);
    }

    [Fact]
    public async Task A_dump_that_times_out_answers_504_with_what_it_got()
    {
        await using var gateway = await TestGateway.StartAsync();
        var queue = await DeclareQueueAsync(gateway, Unique("short"));
        Assert.Equal(202, (await gateway.PostAsync($"/flows/queues/{queue}/messages", "only one", Admin)).Status);

        var dump = await gateway.SendAsync(HttpMethod.Post, $"/flows/queues/{queue}/dump?amount=3&timeout=300ms", token: Admin);
        Assert.Equal(504, dump.Status);
        Assert.Equal("DEADLINE_EXCEEDED", (string?)dump.Json["error"]!["code"]);
        Assert.Contains("got 1 of 3", (string?)dump.Json["error"]!["message"], StringComparison.Ordinal);
        Assert.Equal(["only one"], dump.Json["messages"]!.AsArray().Select(m => (string)m!));
    }

    [Fact]
    public async Task Missing_queues_are_404_naming_the_queue()
    {
        await using var gateway = await TestGateway.StartAsync();
        var queue = Unique("nothere") + ".IN";
        var send = await gateway.PostAsync($"/flows/queues/{queue}/messages", new { x = 1 }, Admin);
        Assert.Equal(404, send.Status);
        Assert.Contains(queue, send.ErrorMessage, StringComparison.Ordinal);

        var dump = await gateway.SendAsync(HttpMethod.Post, $"/flows/queues/{queue}/dump", token: Admin);
        Assert.Equal(404, dump.Status);
        Assert.Contains(queue, dump.ErrorMessage, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("PUT", "/flows/graphs/a//b", "{}", "application/json", 400, "graph name")]
    [InlineData("PUT", "/flows/graphs/bad%20name", "{}", "application/json", 400, "graph name")]
    [InlineData("PUT", "/flows/graphs/g1", "{\"processes\": 3}", "application/json", 400, "processes")]
    [InlineData("PUT", "/flows/graphs/g1", "{not json", "application/json", 400, "JSON graph")]
    [InlineData("PUT", "/flows/graphs/g1", "a(A) OUT -> ", "text/x-fbp", 400, "line")]
    [InlineData("PUT", "/flows/graphs/g1", "", "text/x-fbp", 400, "empty")]
    [InlineData("PUT", "/flows/graphs/g1", "a(A) OUT -> IN b(B)", "image/png", 415, "image/png")]
    [InlineData("POST", "/flows/graphs/g1", null, null, 405, "GET, PUT, DELETE")]
    [InlineData("POST", "/flows/participants", null, null, 405, "GET")]
    [InlineData("GET", "/flows/queues/q.IN/messages", null, null, 405, "POST")]
    [InlineData("GET", "/flows/nothing", null, null, 404, "/flows/participants")]
    [InlineData("POST", "/flows/queues/q.IN/messages", "{oops", "application/json", 400, "not valid JSON")]
    [InlineData("POST", "/flows/queues/q.IN/dump?amount=0", null, null, 400, "amount")]
    [InlineData("POST", "/flows/queues/q.IN/dump?amount=x", null, null, 400, "amount")]
    [InlineData("POST", "/flows/queues/q.IN/dump?amount=10001", null, null, 400, "amount")]
    [InlineData("POST", "/flows/queues/q.IN/dump?timeout=soon", null, null, 400, "timeout")]
    [InlineData("POST", "/flows/queues/q.IN/dump?timeout=-1", null, null, 400, "timeout")]
    public async Task Bad_input_is_refused_naming_the_problem(string method, string path, string? body, string? type, int status, string containing)
    {
        await using var gateway = await TestGateway.StartAsync();
        var response = await gateway.SendAsync(new HttpMethod(method), path, body, Admin, type ?? "application/json");
        Assert.True(response.Status == status, $"{method} {path}: expected {status}, got {response.Status}: {response.Body}");
        Assert.Contains(containing, response.ErrorMessage, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Flows_need_the_admin_token()
    {
        await using var gateway = await TestGateway.StartAsync();
        var none = await gateway.GetAsync("/flows/participants", token: null);
        Assert.Equal(401, none.Status);
        var wrong = await gateway.GetAsync("/flows/graphs", token: "not-the-admin-token");
        Assert.Equal(403, wrong.Status);
        Assert.Contains("admin token", wrong.ErrorMessage, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_an_admin_token_a_loopback_gateway_is_open()
    {
        await using var gateway = await TestGateway.StartAsync(settings: new Dictionary<string, string?> { ["Trellis:Security:AdminToken"] = "" });
        var list = await gateway.GetAsync("/flows/graphs", token: null);
        Assert.True(list.Status == 200, list.Body);
    }

    [Fact]
    public async Task Bad_ports_refuse_the_registration()
    {
        await using var gateway = await TestGateway.StartAsync();
        await using var node = await PythonNode.StartAsync("bad-ports");
        (object Body, string Containing)[] cases =
        [
            (new { port = node.Port, inports = new object[] { new { path = "/echo" } } }, "inports[0].id"),
            (new { port = node.Port, inports = "IN" }, "'inports' must be an array"),
            (new { port = node.Port, inports = new object[] { new { id = "in" }, new { id = "IN" } } }, "declared twice"),
            (new { port = node.Port, outports = new object[] { new { id = "out", path = "/x" } } }, "inports only"),
            (new { port = node.Port, role = "has.dot", inports = new object[] { new { id = "in" } } }, "'role'"),
            (new { port = node.Port, inports = new object[] { new { id = "in", path = "no-slash" } } }, "inports[0].path"),
        ];
        foreach (var (body, containing) in cases)
        {
            var response = await gateway.PostAsync("/nodes", body);
            Assert.True(response.Status == 400, $"expected 400 for {containing}, got {response.Status}: {response.Body}");
            Assert.Contains(containing, response.ErrorMessage, StringComparison.Ordinal);
        }

        Assert.Equal(0, gateway.Registry.Count);
    }

    [Fact]
    public async Task Outports_need_the_nodes_token_and_a_declared_port()
    {
        await using var gateway = await TestGateway.StartAsync();
        await using var node = await PythonNode.StartAsync("sender");
        var role = Unique("sender");
        var n = await gateway.RegisterAsync(new { port = node.Port, role, outports = new object[] { new { id = "out" } } });
        var other = await gateway.RegisterAsync(new { port = node.Port });

        Assert.Equal(401, (await gateway.PostAsync($"/nodes/{n.Id}/outports/out", new { x = 1 })).Status);
        Assert.Equal(403, (await gateway.PostAsync($"/nodes/{n.Id}/outports/out", new { x = 1 }, other.Token)).Status);
        var missing = await gateway.PostAsync($"/nodes/{n.Id}/outports/nope", new { x = 1 }, n.Token);
        Assert.Equal(404, missing.Status);
        Assert.Contains("it declared: out", missing.ErrorMessage, StringComparison.Ordinal);
        var none = await gateway.PostAsync($"/nodes/{other.Id}/outports/out", new { x = 1 }, other.Token);
        Assert.Equal(404, none.Status);
        var bad = await gateway.SendAsync(HttpMethod.Post, $"/nodes/{n.Id}/outports/out", "{x", n.Token);
        Assert.Equal(400, bad.Status);
        Assert.Equal(200, (await gateway.PostAsync($"/nodes/{n.Id}/outports/OUT", new { x = 1 }, n.Token)).Status);
    }
}
