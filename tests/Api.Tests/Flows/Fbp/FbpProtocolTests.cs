using System.Net.WebSockets;
using System.Text.Json.Nodes;
using Trellis.Api.Tests.Infrastructure;
using Trellis.TestKit;

namespace Trellis.Api.Tests.Flows.Fbp;

/// <summary>The /fbp WebSocket itself: the runtime message, subprotocols, the secret, and bad frames answered with
/// errors on a connection that stays usable.</summary>
public sealed class FbpProtocolTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;

    public async ValueTask InitializeAsync() => _gateway = await TestGateway.StartAsync();

    public async ValueTask DisposeAsync() => await _gateway.DisposeAsync();

    [Fact]
    public async Task Getruntime_describes_the_runtime_and_negotiates_noflo()
    {
        await using var client = await FbpClient.ConnectAsync(_gateway);
        Assert.Equal("noflo", client.Socket.SubProtocol);
        var runtime = await client.RequestAsync("runtime", "getruntime", new JsonObject(), "runtime");
        Assert.Equal("msgflo", (string?)runtime["type"]);
        Assert.Equal("0.7", (string?)runtime["version"]);
        Assert.Equal("default/main", (string?)runtime["graph"]);
        Assert.True(Guid.TryParse((string?)runtime["id"], out _), $"the runtime id is a UUID: {runtime["id"]}");
        var capabilities = runtime["capabilities"]!.AsArray().Select(c => (string)c!).ToList();
        Assert.Equal(
            ["component:getsource", "network:control", "network:data", "network:status", "protocol:component", "protocol:graph", "protocol:network", "protocol:runtime"],
            capabilities.Order());
        Assert.Equal(capabilities, runtime["allCapabilities"]!.AsArray().Select(c => (string)c!));
        Assert.Empty(_gateway.Logs.Errors);
    }

    [Fact]
    public async Task A_client_asking_for_no_subprotocol_is_accepted()
    {
        await using var client = await FbpClient.ConnectAsync(_gateway, subprotocol: null);
        Assert.Null(client.Socket.SubProtocol);
        var runtime = await client.RequestAsync("runtime", "getruntime", null, "runtime");
        Assert.Equal("msgflo", (string?)runtime["type"]);
    }

    [Fact]
    public async Task A_plain_http_request_is_told_to_use_a_websocket()
    {
        var response = await _gateway.GetAsync("/fbp", token: null);
        Assert.Equal(426, response.Status);
        Assert.Contains("WebSocket", response.Body);
    }

    [Fact]
    public async Task Bad_frames_get_errors_and_the_connection_stays_usable()
    {
        await using var client = await FbpClient.ConnectAsync(_gateway);
        async Task<JsonObject> ErrorFor(string text, string protocol, string expected)
        {
            await client.SendTextAsync(text);
            var error = await client.ReceiveAsync($"the error for {text}");
            Assert.Equal(protocol, (string?)error["protocol"]);
            Assert.Equal("error", (string?)error["command"]);
            Assert.Contains(expected, (string?)error["payload"]!["message"]);
            return error;
        }

        await ErrorFor("not json at all", "runtime", "not valid JSON");
        await ErrorFor("[1, 2, 3]", "runtime", "must be a JSON object");
        await ErrorFor("{\"command\":\"getruntime\"}", "runtime", "has no protocol");
        await ErrorFor("{\"protocol\":\"graph\",\"payload\":{}}", "graph", "has no command");
        var error = await ErrorFor($"{{\"protocol\":\"frob\",\"command\":\"x\",\"requestId\":\"q1\",\"secret\":\"{TestGateway.AdminToken}\"}}", "frob", "unknown protocol 'frob'");
        Assert.Equal("q1", (string?)error["responseTo"]);
        await ErrorFor($"{{\"protocol\":\"graph\",\"command\":\"addedge\",\"secret\":\"{TestGateway.AdminToken}\"}}", "graph", "No graph specified");
        await ErrorFor($"{{\"protocol\":\"graph\",\"command\":\"addedge\",\"payload\":{{\"graph\":\"g\"}},\"secret\":\"{TestGateway.AdminToken}\"}}", "graph", "payload.src is required");
        await ErrorFor("{\"protocol\":\"graph\",\"command\":\"addnode\",\"payload\":\"x\"}", "graph", "payload must be a JSON object");

        Assert.Contains("unknown command runtime:explode", await client.ErrorAsync("runtime", "explode", new JsonObject()));
        Assert.Contains("unknown command network:explode", await client.ErrorAsync("network", "explode", new JsonObject()));
        Assert.Contains("unknown command component:explode", await client.ErrorAsync("component", "explode", new JsonObject()));
        Assert.Contains("not supported", await client.ErrorAsync("trace", "start", new JsonObject()));
        Assert.Contains("not supported", await client.ErrorAsync("network", "persist", new JsonObject()));
        Assert.Contains("not supported", await client.ErrorAsync("component", "source", new JsonObject { ["name"] = "x", ["language"] = "js", ["code"] = "" }));

        await client.SendRawAsync([1, 2, 3], WebSocketMessageType.Binary);
        var binary = await client.ReceiveAsync("the error for a binary frame");
        Assert.Contains("binary frames", (string?)binary["payload"]!["message"]);

        // Still usable.
        var runtime = await client.RequestAsync("runtime", "getruntime", new JsonObject(), "runtime");
        Assert.Equal("msgflo", (string?)runtime["type"]);
        Assert.Empty(_gateway.Logs.Errors);
    }

    [Fact]
    public async Task A_message_over_the_size_limit_is_refused_and_the_socket_closed_with_1009()
    {
        await using var client = await FbpClient.ConnectAsync(_gateway);
        var big = "{\"protocol\":\"runtime\",\"command\":\"getruntime\",\"payload\":{\"x\":\"" + new string('a', 1024 * 1024 + 10) + "\"}}";
        await client.SendTextAsync(big);
        var error = await client.ReceiveAsync("the error for an oversized message");
        Assert.Contains("larger than 1048576 bytes", (string?)error["payload"]!["message"]);
        var buffer = new byte[1024];
        var close = await client.Socket.ReceiveAsync(buffer, TestContext.Current.CancellationToken).Within("the close frame after an oversized message");
        Assert.Equal(WebSocketMessageType.Close, close.MessageType);
        Assert.Equal(WebSocketCloseStatus.MessageTooBig, close.CloseStatus);
    }

    [Fact]
    public async Task Every_message_needs_the_secret_when_one_is_configured()
    {
        await using var client = await FbpClient.ConnectAsync(_gateway, secret: null);

        // getruntime answers anyone, with no capabilities for a client without the secret.
        var runtime = await client.RequestAsync("runtime", "getruntime", new JsonObject(), "runtime");
        Assert.Empty(runtime["capabilities"]!.AsArray());
        Assert.NotEmpty(runtime["allCapabilities"]!.AsArray());

        Assert.Contains("needs a secret", await client.ErrorAsync("graph", "clear", new JsonObject { ["id"] = "nope" }));
        client.Secret = "wrong-secret-wrong-secret";
        Assert.Contains("secret is not valid", await client.ErrorAsync("component", "list", new JsonObject()));

        // The legacy place, in the payload, counts too.
        client.Secret = null;
        runtime = await client.RequestAsync("runtime", "getruntime", new JsonObject { ["secret"] = TestGateway.AdminToken }, "runtime");
        Assert.NotEmpty(runtime["capabilities"]!.AsArray());
        Assert.DoesNotContain(TestGateway.AdminToken, runtime.ToJsonString());
    }

    [Fact]
    public async Task The_flows_secret_takes_precedence_over_the_admin_token()
    {
        await using var gateway = await TestGateway.StartAsync(settings: new Dictionary<string, string?> { ["Trellis:Flows:Secret"] = "flows-secret-for-tests" });
        await using var client = await FbpClient.ConnectAsync(gateway, secret: TestGateway.AdminToken);
        Assert.Contains("secret is not valid", await client.ErrorAsync("network", "getstatus", new JsonObject { ["graph"] = "x" }));
        client.Secret = "flows-secret-for-tests";
        var runtime = await client.RequestAsync("runtime", "getruntime", null, "runtime");
        Assert.NotEmpty(runtime["capabilities"]!.AsArray());
    }
}
