using System.Text.Json.Nodes;
using Trellis.Api.Tests.Infrastructure;

namespace Trellis.Api.Tests;

/// <summary>POST /request/:id: the reply body <c>{messages, code, length}</c> and HTTP status = code, through a real Python node.</summary>
public sealed class RequestTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;
    private PythonNode _python = null!;
    private RegisteredNode _node = null!;

    public async ValueTask InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync();
        _python = await PythonNode.StartAsync("replies");
        _node = await _gateway.RegisterAsync(new
        {
            port = _python.Port,
            services = new object[]
            {
                new { topic = "req.echo", group = "_default", path = "/echo", timeout = 10 },
                new { topic = "req.fail", group = "_default", path = "/fail" },
                new { topic = "req.teapot", group = "_default", path = "/status/418" },
                new { topic = "req.moved", group = "_default", path = "/status/302" },
                new { topic = "req.text", group = "_default", path = "/text" },
                new { topic = "req.slow", group = "_default", path = "/slow", timeout = 0.3 },
                new { topic = "req.slower", group = "_default", path = "/slow", timeout = 20 },
                new { topic = "req.tag.a", group = "_default", path = "/tag/a" },
                new { topic = "req.tag.b", group = "_default", path = "/tag/b" },
            },
        });
        Assert.Equal("ok", _node.Status);
    }

    public async ValueTask DisposeAsync()
    {
        await _python.DisposeAsync();
        await _gateway.DisposeAsync();
    }

    private Task<Response> RequestAsync(object body) => _gateway.PostAsync($"/request/{_node.Id}", body, _node.Token);

    [Fact]
    public async Task A_reply_is_one_message_with_code_200_and_the_node_sees_the_documented_envelope()
    {
        var response = await RequestAsync(new { topic = "req.echo", message = new { hello = "world" }, timeout = 10 });
        Assert.Equal(200, response.Status);
        var json = response.Json;
        Assert.Equal(["code", "length", "messages"], json.AsObject().Select(p => p.Key).Order());
        Assert.Equal(200, (int)json["code"]!);
        Assert.Equal(1, (int)json["length"]!);
        var message = json["messages"]!.AsArray().Single()!;
        Assert.Equal(["code", "data"], message.AsObject().Select(p => p.Key).Order());
        Assert.Equal(200, (int)message["code"]!);

        // What the node received: POST /echo with {topic, sender, data, timeout}; its answer is the reply data unmodified.
        var data = message["data"]!;
        Assert.Equal("replies", (string)data["node"]!);
        Assert.Equal("req.echo", (string)data["topic"]!);
        Assert.Equal("world", (string)data["data"]!["hello"]!);
        Assert.Equal(10, (double)data["timeout"]!);
        Assert.False(string.IsNullOrEmpty((string?)data["sender"]));
        var call = (await _python.CallsAsync("/echo")).Single()["body"]!.AsObject();
        Assert.Equal(["data", "sender", "timeout", "topic"], call.Select(p => p.Key).Order());
    }

    [Fact]
    public async Task No_subscriber_is_404_in_the_reply_shape()
    {
        var response = await RequestAsync(new { topic = "req.nobody" });
        Assert.Equal(404, response.Status);
        Assert.Equal(404, (int)response.Json["code"]!);
        Assert.Contains("No active listeners for: req.nobody", (string)response.Json["messages"]![0]!["data"]!);
    }

    [Fact]
    public async Task A_failing_handler_gives_its_status_as_the_code_with_its_body_as_data()
    {
        var failed = await RequestAsync(new { topic = "req.fail", message = 1 });
        Assert.Equal(500, failed.Status);
        Assert.Equal(500, (int)failed.Json["code"]!);
        Assert.Equal("boom from replies", (string)failed.Json["messages"]![0]!["data"]!["error"]!);

        var teapot = await RequestAsync(new { topic = "req.teapot" });
        Assert.Equal(418, teapot.Status);
        Assert.Equal(418, (int)teapot.Json["messages"]![0]!["code"]!);
        Assert.Equal(418, (int)teapot.Json["messages"]![0]!["data"]!["status"]!);

        // A redirect is not followed: it is the node's answer, code 302.
        var moved = await RequestAsync(new { topic = "req.moved" });
        Assert.Equal(302, (int)moved.Json["code"]!);
    }

    [Fact]
    public async Task A_reply_that_is_not_json_is_delivered_as_a_string()
    {
        var response = await RequestAsync(new { topic = "req.text" });
        Assert.Equal(200, response.Status);
        Assert.Equal("plain text from replies", (string)response.Json["messages"]![0]!["data"]!);
    }

    [Fact]
    public async Task A_handler_past_its_timeout_gives_504_and_its_connection_is_closed()
    {
        var response = await RequestAsync(new { topic = "req.slow", timeout = 30 });
        Assert.Equal(504, response.Status);
        Assert.Equal(504, (int)response.Json["code"]!);
        Assert.Contains("timed out", (string)response.Json["messages"]![0]!["data"]!);

        // The node sees the gateway close the connection, so its late answer goes nowhere.
        await _python.WaitForAsync(e => (string?)e["event"] == "closed", "the gateway to close the timed-out call's connection");
    }

    [Fact]
    public async Task A_requester_past_its_own_timeout_gets_499()
    {
        var response = await RequestAsync(new { topic = "req.slower", timeout = 0.2 });
        Assert.Equal(499, response.Status);
        Assert.Equal(499, (int)response.Json["code"]!);

        // The handler's own timeout (20 s) still governs the call, which the node holds until the gateway is stopped.
        await _python.WaitForCallsAsync("/slow", 1, "the slow call to arrive");
    }

    [Fact]
    public async Task Compositions_run_through_request()
    {
        var pipe = await RequestAsync(new
        {
            composition = new { pipe = new object[] { new { topic = "req.tag.a" }, new { topic = "req.tag.b", message = new { extra = true } } } },
            message = new { start = 1 },
        });
        Assert.Equal(200, pipe.Status);
        Assert.Equal(1, (int)pipe.Json["length"]!);
        var data = pipe.Json["messages"]![0]!["data"]!;
        Assert.Equal(1, (int)data["start"]!);
        Assert.Equal("replies", (string)data["a"]!);
        Assert.Equal("replies", (string)data["b"]!);
        Assert.True((bool)data["extra"]!);

        var parallel = await RequestAsync(new
        {
            composition = new { parallel = new object[] { new { topic = "req.tag.a" }, new { topic = "req.fail" }, new { topic = "req.nobody" } } },
            message = new { },
        });
        Assert.Equal(500, parallel.Status);
        Assert.Equal(3, (int)parallel.Json["length"]!);
        Assert.Equal([200, 404, 500], parallel.Json["messages"]!.AsArray().Select(m => (int)m!["code"]!).Order());

        var batch = await RequestAsync(new
        {
            composition = new { batch = new object[] { new { topic = "req.fail" }, new { topic = "req.echo" } }, record = true },
        });
        Assert.Equal(500, batch.Status);
        Assert.Equal(2, (int)batch.Json["length"]!);

        var oror = await RequestAsync(new { composition = new { oror = new object[] { new { topic = "req.fail" }, new { topic = "req.tag.a" } } } });
        Assert.Equal(200, oror.Status);
    }
}
