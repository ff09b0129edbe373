using System.Text.Json.Nodes;
using Trellis.Api.Tests.Infrastructure;

namespace Trellis.Api.Tests;

/// <summary>Every route of the proxy API with the field names of reference/systems.md §2.4, against a real Python node.</summary>
public sealed class RoutesTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;
    private PythonNode _node = null!;

    public async ValueTask InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync();
        _node = await PythonNode.StartAsync("routes");
    }

    public async ValueTask DisposeAsync()
    {
        await _node.DisposeAsync();
        await _gateway.DisposeAsync();
    }

    [Fact]
    public async Task A_node_is_registered_read_changed_and_deleted_with_the_documented_fields()
    {
        var node = await _gateway.RegisterAsync(new
        {
            port = _node.Port,
            slots = new object[] { new { topic = "routes.events.*", path = "/record", timeout = 2.5 } },
            services = new object[] { new { topic = "routes.echo", group = "g1", path = "/echo", timeout = 5 } },
        });
        Assert.Equal("ok", node.Status);
        Assert.Matches("^[0-9a-f]{32}$", node.Id);
        Assert.Matches("^[A-Za-z0-9_-]{43}$", node.Token);

        // GET /nodes/:id → {id, port, health_check, slots, services, status}; health_check defaults to /health.
        var read = (await _gateway.GetAsync($"/nodes/{node.Id}", node.Token)).Json;
        Assert.Equal(["health_check", "id", "port", "services", "slots", "status"], read.AsObject().Select(p => p.Key).Order());
        Assert.Equal(node.Id, (string)read["id"]!);
        Assert.Equal(_node.Port, (int)read["port"]!);
        Assert.Equal("/health", (string)read["health_check"]!);
        Assert.Equal("ok", (string)read["status"]!);
        var slot = read["slots"]!.AsArray().Single()!;
        Assert.Equal(["group", "path", "timeout", "topic"], slot.AsObject().Select(p => p.Key).Order());
        Assert.Equal("routes.events.*", (string)slot["topic"]!);
        Assert.Null(slot["group"]);
        Assert.Equal("/record", (string)slot["path"]!);
        Assert.Equal(2.5, (double)slot["timeout"]!);
        var service = read["services"]!.AsArray().Single()!;
        Assert.Equal("routes.echo", (string)service["topic"]!);
        Assert.Equal("g1", (string)service["group"]!);
        Assert.Equal(5, (double)service["timeout"]!);

        // POST /nodes/:id/services and /slots → {status}; GET → {services: [...]} / {slots: [...]}; timeouts default to 30 s.
        var added = await _gateway.PostAsync($"/nodes/{node.Id}/services", new { topic = "routes.second", group = "g1", path = "/echo" }, node.Token);
        Assert.Equal(200, added.Status);
        Assert.Equal("""{"status":"ok"}""", added.Body);
        Assert.Equal(200, (await _gateway.PostAsync($"/nodes/{node.Id}/slots", new { topic = "routes.other", group = "sg", path = "/record" }, node.Token)).Status);
        Assert.Equal(200, (await _gateway.PostAsync($"/nodes/{node.Id}/slots", new { topic = "routes.other", path = "/echo" }, node.Token)).Status);

        var services = (await _gateway.GetAsync($"/nodes/{node.Id}/services", node.Token)).Json;
        Assert.Equal(["services"], services.AsObject().Select(p => p.Key));
        Assert.Equal(["routes.echo", "routes.second"], services["services"]!.AsArray().Select(s => (string)s!["topic"]!));
        Assert.Equal(30, (double)services["services"]![1]!["timeout"]!);
        var slots = (await _gateway.GetAsync($"/nodes/{node.Id}/slots", node.Token)).Json;
        Assert.Equal(["slots"], slots.AsObject().Select(p => p.Key));
        Assert.Equal(3, slots["slots"]!.AsArray().Count);

        // The new service answers at once.
        var reply = await _gateway.PostAsync($"/request/{node.Id}", new { topic = "routes.second", message = new { n = 1 } }, node.Token);
        Assert.Equal(200, reply.Status);
        Assert.Equal(1, (int)reply.Json["messages"]![0]!["data"]!["data"]!["n"]!);

        // DELETE ?topic=&path= removes only the matching one; ?topic= alone removes all on the topic.
        Assert.Equal("""{"status":"ok"}""", (await _gateway.DeleteAsync($"/nodes/{node.Id}/slots?topic=routes.other&path=/echo", node.Token)).Body);
        Assert.Equal(2, (await _gateway.GetAsync($"/nodes/{node.Id}/slots", node.Token)).Json["slots"]!.AsArray().Count);
        Assert.Equal(200, (await _gateway.DeleteAsync($"/nodes/{node.Id}/slots?topic=routes.other", node.Token)).Status);
        Assert.Equal(["routes.events.*"], (await _gateway.GetAsync($"/nodes/{node.Id}/slots", node.Token)).Json["slots"]!.AsArray().Select(s => (string)s!["topic"]!));
        var nothing = await _gateway.DeleteAsync($"/nodes/{node.Id}/slots?topic=routes.other", node.Token);
        Assert.Equal(404, nothing.Status);
        Assert.Contains("no slot on topic 'routes.other'", nothing.ErrorMessage);

        Assert.Equal(200, (await _gateway.DeleteAsync($"/nodes/{node.Id}/services?topic=routes.second", node.Token)).Status);
        var gone = await _gateway.PostAsync($"/request/{node.Id}", new { topic = "routes.second" }, node.Token);
        Assert.Equal(404, gone.Status);
        Assert.Equal(404, (int)gone.Json["code"]!);

        // DELETE /nodes/:id → {status: "ok"}; the node, its token and its subscriptions are gone.
        var deleted = await _gateway.DeleteAsync($"/nodes/{node.Id}", node.Token);
        Assert.Equal("""{"status":"ok"}""", deleted.Body);
        Assert.Equal(404, (await _gateway.GetAsync($"/nodes/{node.Id}", TestGateway.AdminToken)).Status);
        Assert.Equal(401, (await _gateway.GetAsync($"/nodes/{node.Id}", node.Token)).Status);
        Assert.Null(_gateway.Registry.StatusOf(node.Id));
    }

    [Fact]
    public async Task Registration_takes_a_health_path_and_nodes_get_distinct_ids_and_tokens()
    {
        var a = await _gateway.RegisterAsync(new { port = _node.Port, health_check = "/custom/health?probe=1" });
        var b = await _gateway.RegisterAsync(new { port = _node.Port, slots = Array.Empty<object>(), services = Array.Empty<object>() });
        Assert.NotEqual(a.Id, b.Id);
        Assert.NotEqual(a.Token, b.Token);
        Assert.Equal("/custom/health?probe=1", (string)(await _gateway.GetAsync($"/nodes/{a.Id}", a.Token)).Json["health_check"]!);
        await _node.WaitForAsync(e => (string?)e["event"] == "call" && (string?)e["method"] == "GET" && (string?)e["path"] == "/custom/health", "a health check on the registered path");
    }

    [Fact]
    public async Task Wrong_methods_and_unknown_sub_resources_get_error_bodies()
    {
        var node = await _gateway.RegisterAsync(new { port = _node.Port });
        var put = await _gateway.SendAsync(HttpMethod.Put, $"/nodes/{node.Id}", "{}", node.Token);
        Assert.Equal(405, put.Status);
        Assert.Equal("GET, DELETE", put.Allow);
        Assert.Contains("PUT is not allowed", put.ErrorMessage);
        var putNodes = await _gateway.SendAsync(HttpMethod.Put, "/nodes", "{}");
        Assert.Equal(405, putNodes.Status);
        Assert.Equal("POST, GET", putNodes.Allow);
        Assert.Equal(405, (await _gateway.GetAsync($"/request/{node.Id}", node.Token)).Status);

        var unknown = await _gateway.GetAsync($"/nodes/{node.Id}/whatever", node.Token);
        Assert.Equal(404, unknown.Status);
        Assert.Contains("slots and services", unknown.ErrorMessage);
        Assert.Contains("id is missing", (await _gateway.PostAsync("/request", new { topic = "a" })).ErrorMessage);
    }
}
