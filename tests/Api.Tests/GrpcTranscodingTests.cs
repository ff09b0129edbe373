using Trellis.Api.Tests.Infrastructure;

namespace Trellis.Api.Tests;

/// <summary>The Nodes and Messaging unary methods as JSON under /v1 on the HTTP port (google.api.http transcoding);
/// errors are google.rpc.Status JSON.</summary>
public sealed class GrpcTranscodingTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;
    private PythonNode _node = null!;

    public async ValueTask InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync();
        _node = await PythonNode.StartAsync("json");
    }

    public async ValueTask DisposeAsync()
    {
        await _node.DisposeAsync();
        await _gateway.DisposeAsync();
    }

    [Fact]
    public async Task Nodes_and_messaging_work_as_json_under_v1()
    {
        var registered = await _gateway.PostAsync("/v1/nodes", new { port = _node.Port, services = new object[] { new { topic = "v1.echo", group = "g", path = "/echo" } } });
        Assert.True(registered.Status == 200, registered.ToString());
        var id = (string)registered.Json["id"]!;
        var token = (string)registered.Json["token"]!;
        Assert.Equal("ok", (string?)registered.Json["status"]);

        var node = await _gateway.GetAsync($"/v1/nodes/{id}", token);
        Assert.Equal(200, node.Status);
        Assert.Equal(_node.Port, (int)node.Json["port"]!);
        Assert.Equal("/health", (string?)node.Json["healthCheck"]);
        Assert.Equal("v1.echo", (string?)node.Json["services"]![0]!["topic"]);

        Assert.Equal(200, (await _gateway.PostAsync($"/v1/nodes/{id}/slots", new { topic = "v1.ev.*", path = "/echo" }, token)).Status);
        var slots = await _gateway.GetAsync($"/v1/nodes/{id}/slots", token);
        Assert.Equal("v1.ev.*", (string?)slots.Json["subscriptions"]![0]!["topic"]);

        var reply = await _gateway.PostAsync($"/v1/request/{id}", new { topic = "v1.echo", message = new { a = 1 } }, token);
        Assert.Equal(200, reply.Status);
        Assert.Equal(200, (int)reply.Json["code"]!);
        Assert.Equal("json", (string?)reply.Json["messages"]![0]!["data"]!["node"]);

        Assert.Equal("ok", (string?)(await _gateway.PostAsync($"/v1/signal/{id}", new { topic = "v1.ev.x", message = "hi" }, token)).Json["status"]);
        await _node.WaitForCallsAsync("/echo", 2, "the transcoded signal to reach the node");

        Assert.Equal(200, (await _gateway.DeleteAsync($"/v1/nodes/{id}/slots?topic=v1.ev.*", token)).Status);
        Assert.Equal(200, (await _gateway.DeleteAsync($"/v1/nodes/{id}", token)).Status);
    }

    [Fact]
    public async Task Errors_are_google_rpc_status_json_with_the_http_status_of_their_code()
    {
        var registered = await _gateway.PostAsync("/v1/nodes", new { port = _node.Port });
        var id = (string)registered.Json["id"]!;
        var token = (string)registered.Json["token"]!;

        var nobody = await _gateway.PostAsync($"/v1/request/{id}", new { topic = "v1.nobody" }, token);
        Assert.Equal(404, nobody.Status);
        Assert.Equal(5, (int)nobody.Json["code"]!);
        Assert.Contains("No active listeners for: v1.nobody", (string?)nobody.Json["message"]);
        var detail = nobody.Json["details"]![0]!;
        Assert.Equal("type.googleapis.com/trellis.v1.PublishResponse", (string?)detail["@type"]);
        Assert.Equal(404, (int)detail["code"]!);

        var noToken = await _gateway.GetAsync($"/v1/nodes/{id}", token: null);
        Assert.Equal(401, noToken.Status);
        Assert.Equal(16, (int)noToken.Json["code"]!);

        var badJson = await _gateway.SendAsync(HttpMethod.Post, "/v1/nodes", "{\"port\": ");
        Assert.Equal(400, badJson.Status);
        Assert.Equal(3, (int)badJson.Json["code"]!);

        var noPort = await _gateway.PostAsync("/v1/nodes", new { health_check = "/h" });
        Assert.Equal(400, noPort.Status);
        Assert.Contains("port is required", (string?)noPort.Json["message"]);

        var wrongType = await _gateway.PostAsync("/v1/nodes", new { port = "many" });
        Assert.Equal(400, wrongType.Status);

        var group = await _gateway.PostAsync($"/v1/nodes/{id}/services", new { topic = "t", path = "/echo" }, token);
        Assert.Equal(400, group.Status);
        Assert.Contains("group", (string?)group.Json["message"]);
    }
}
