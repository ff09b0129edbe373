using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using Trellis.Api.Tests.Infrastructure;
using Trellis.TestKit;

namespace Trellis.Api.Tests.Flows.Fbp;

/// <summary>A WebSocket client of the gateway's <c>/fbp</c> speaking the FBP runtime protocol, as Flowhub does.</summary>
internal sealed class FbpClient : IAsyncDisposable
{
    private readonly ClientWebSocket _socket;
    private int _requests;

    private FbpClient(ClientWebSocket socket, string? secret)
    {
        _socket = socket;
        Secret = secret;
    }

    /// <summary>The secret put on every message (the gateway's admin token by default).</summary>
    public string? Secret { get; set; }

    public WebSocket Socket => _socket;

    public static async Task<FbpClient> ConnectAsync(TestGateway gateway, string? secret = TestGateway.AdminToken, string? subprotocol = "noflo")
    {
        var socket = new ClientWebSocket();
        if (subprotocol is not null)
        {
            socket.Options.AddSubProtocol(subprotocol);
        }

        var uri = new UriBuilder(gateway.Address) { Scheme = "ws", Path = "/fbp" }.Uri;
        await socket.ConnectAsync(uri, TestContext.Current.CancellationToken).Within($"the WebSocket connection to {uri}");
        return new FbpClient(socket, secret);
    }

    /// <summary>Sends a message with a fresh requestId and returns that id.</summary>
    public async Task<string> SendAsync(string protocol, string command, JsonNode? payload)
    {
        var id = $"r{Interlocked.Increment(ref _requests)}";
        var message = new JsonObject { ["protocol"] = protocol, ["command"] = command, ["payload"] = payload, ["requestId"] = id };
        if (Secret is not null)
        {
            message["secret"] = Secret;
        }

        await SendTextAsync(message.ToJsonString());
        return id;
    }

    public Task SendTextAsync(string text) => SendRawAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text);

    public async Task SendRawAsync(byte[] bytes, WebSocketMessageType type) =>
        await _socket.SendAsync(bytes, type, endOfMessage: true, TestContext.Current.CancellationToken);

    /// <summary>The next message the runtime sends.</summary>
    public async Task<JsonObject> ReceiveAsync(string what)
    {
        var buffer = new byte[64 * 1024];
        using var text = new MemoryStream();
        WebSocketReceiveResult result;
        do
        {
            result = await _socket.ReceiveAsync(buffer, TestContext.Current.CancellationToken).Within(what);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                throw new InvalidOperationException($"the runtime closed the connection ({result.CloseStatus} {result.CloseStatusDescription}) while the test waited for {what}");
            }

            text.Write(buffer, 0, result.Count);
        }
        while (!result.EndOfMessage);

        Assert.Equal(WebSocketMessageType.Text, result.MessageType);
        return JsonNode.Parse(text.ToArray())!.AsObject();
    }

    /// <summary>Reads messages until one with this protocol and command arrives (others, e.g. pushed events, are skipped).</summary>
    public async Task<JsonObject> ExpectAsync(string protocol, string command, Func<JsonObject, bool>? match = null)
    {
        var seen = new List<string>();
        while (true)
        {
            var message = await ReceiveAsync($"{protocol}:{command} (seen so far: {string.Join(", ", seen)})");
            if ((string?)message["protocol"] == protocol && (string?)message["command"] == command && (match is null || match(message)))
            {
                return message;
            }

            Assert.False((string?)message["command"] == "error" && command != "error",
                $"expected {protocol}:{command}, got an error: {message.ToJsonString()}");
            seen.Add($"{message["protocol"]}:{message["command"]}");
        }
    }

    /// <summary>Sends a request and returns the reply to it with this command.</summary>
    public async Task<JsonObject> RequestAsync(string protocol, string command, JsonNode? payload, string? replyCommand = null)
    {
        var id = await SendAsync(protocol, command, payload);
        var reply = await ExpectAsync(protocol, replyCommand ?? command, m => (string?)m["responseTo"] == id);
        return (JsonObject)reply["payload"]!;
    }

    /// <summary>Sends a request that must be refused; returns the error's message.</summary>
    public async Task<string> ErrorAsync(string protocol, string command, JsonNode? payload)
    {
        var id = await SendAsync(protocol, command, payload);
        var reply = await ExpectAsync(protocol, "error", m => (string?)m["responseTo"] == id);
        return (string)reply["payload"]!["message"]!;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (_socket.State == WebSocketState.Open)
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await _socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, cts.Token);
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException)
        {
        }

        _socket.Dispose();
    }
}
