using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Trellis.Api.Tests.Edge.Link;
using Trellis.Api.Tests.Infrastructure;
using Trellis.Edge.Local;
using Trellis.TestKit;

namespace Trellis.Api.Tests.Telemetry;

/// <summary>A trace across the edge link, both ways: a traced request for a device's service reaches the program on the
/// device with the trace in its <c>traceparent</c> header, and a traced call a device program makes through its agent
/// continues in the cluster, down to the node that serves it.</summary>
public sealed class EdgeTraceTests : IAsyncLifetime
{
    private readonly SpanSink _spans = new();
    private TestGateway _gateway = null!;
    private DeviceProgram _program = null!;
    private string _home = null!;

    public async ValueTask InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync(configure: _spans.Attach);
        _program = await DeviceProgram.StartAsync();
        _home = Directory.CreateTempSubdirectory("trellis-edge-trace-").FullName;
    }

    public async ValueTask DisposeAsync()
    {
        await _program.DisposeAsync();
        await _gateway.DisposeAsync();
        Directory.Delete(_home, recursive: true);
    }

    [Fact]
    public async Task A_traced_request_reaches_the_device_program_and_a_traced_device_call_reaches_the_node_in_the_same_trace()
    {
        var provider = Devices.NewProvider();
        var token = await Devices.IssueTokenAsync(_gateway, provider, "demo.*");
        await using var agent = await Devices.StartAgentAsync(_gateway, _home, provider, token);
        using var local = new LocalClient(agent.SocketPath);
        var (published, text) = await local.SendAsync(HttpMethod.Post, "/v1/services",
            new JsonObject { ["publisher"] = "acme", ["service"] = "echo", ["url"] = new Uri(_program.Address, "/echo").ToString(), ["scopes"] = new JsonArray("wan") },
            TestContext.Current.CancellationToken);
        Assert.True(published == 201, $"publish answered {published}: {text}");
        var node = await _gateway.RegisterAsync(new { port = _program.Port, services = new object[] { new { topic = "demo.hello", group = "g", path = "/echo", timeout = 5 } } });

        // Down: a caller with its own trace asks the gateway for the device's service.
        var down = ActivityTraceId.CreateRandom();
        var reply = await Waits.UntilAsync(
            () => SendAsync(new Uri(_gateway.Address, $"/request/{node.Id}"), node.Token, Parent(down), new { topic = "edge.acme.echo", message = new { n = 1 } }, unix: null),
            r => r.Status == 200,
            "the device's service to answer through the link");
        Assert.Contains("\"by\":\"device\"", reply.Body);
        var (downTrace, downParent) = OneTraceTestsBase.Parse(Last(_program.TraceParents, "the request through the link"));
        Assert.Equal(down, downTrace);
        // In process the request runs under the gateway's HTTP server span, which the link carries to the device.
        var server = await OneTraceTestsBase.SpanAsync(_spans, down, a => a.SpanId == downParent, "the span the program's traceparent names");
        Assert.Equal(ActivityKind.Server, server.Kind);
        Assert.Equal("POST /request/{id}", server.DisplayName);

        // Up: a program on the device calls a cluster service through its agent with a trace of its own.
        var up = ActivityTraceId.CreateRandom();
        var programSpan = ActivitySpanId.CreateRandom();
        var called = await SendAsync(new Uri("http://agent/v1/call/demo.hello"), token: null, $"00-{up.ToHexString()}-{programSpan.ToHexString()}-01", new { hi = 1 }, unix: agent.SocketPath);
        Assert.True(called.Status == 200, $"the device's call answered {called}");
        var (upTrace, upParent) = OneTraceTestsBase.Parse(Last(_program.TraceParents, "the device's call at the node"));
        Assert.Equal(up, upTrace);
        // The gateway's span of the call is the one the node's request runs under, in process.
        var call = await OneTraceTestsBase.SpanAsync(_spans, up, a => a.DisplayName == "edge.call demo.hello", "the gateway's span of the device's call");
        Assert.True(call.SpanId == upParent, $"the node's traceparent does not name the gateway's span of the call ({upParent}): {_spans.Describe(up)}");
        Assert.True(call.ParentSpanId == programSpan, $"the gateway's span is not the device program's span's child: {_spans.Describe(up)}");
    }

    private static string Parent(ActivityTraceId trace) => $"00-{trace.ToHexString()}-{ActivitySpanId.CreateRandom().ToHexString()}-01";

    private static string Last(System.Collections.Concurrent.ConcurrentQueue<string> seen, string what)
    {
        var last = seen.LastOrDefault();
        Assert.False(string.IsNullOrEmpty(last), $"the program saw no traceparent on {what} ({seen.Count} requests)");
        return last!;
    }

    /// <summary>POSTs JSON with a <c>traceparent</c> header, over TCP or the agent's unix socket.</summary>
    private static async Task<(int Status, string Body)> SendAsync(Uri url, string? token, string traceParent, object body, string? unix)
    {
        var handler = new SocketsHttpHandler { UseProxy = false };
        if (unix is not null)
        {
            handler.ConnectCallback = async (_, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(unix), cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            };
        }

        using var http = new HttpClient(handler);
        using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json") };
        request.Headers.TryAddWithoutValidation("traceparent", traceParent);
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        using var response = await http.SendAsync(request, TestContext.Current.CancellationToken);
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
    }
}
