using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Trellis.Api.Tests.Infrastructure;
using Trellis.Core.Diagnostics;
using Trellis.TestKit;

namespace Trellis.Api.Tests.Telemetry;

/// <summary>One trace across three processes in two languages: a Python node calls a gateway with its own
/// <c>traceparent</c>, the gateway publishes the request on the bus, and a Node.js node handling the topic receives the
/// trace in its <c>traceparent</c> header; the gateway's spans are parented in order (across a broker, its HTTP server,
/// producer and consumer spans; in process, its HTTP server span alone).</summary>
public abstract class OneTraceTestsBase
{
    /// <summary>The gateway's settings for the transport under test.</summary>
    protected abstract Dictionary<string, string?> Settings(string cluster);

    /// <summary><c>messaging.system</c> of the bus spans on that transport.</summary>
    protected abstract string MessagingSystem { get; }

    [Fact]
    public async Task A_request_from_a_Python_node_reaches_a_Node_js_node_in_one_trace_with_its_spans_in_order()
    {
        var spans = new SpanSink();
        var id = $"{Guid.NewGuid():N}"[..10];
        await using var gateway = await TestGateway.StartAsync(settings: Settings($"tr{id}"), configure: spans.Attach);
        await using var python = await PythonNode.StartAsync("caller");
        var caller = await gateway.RegisterAsync(new { port = python.Port, services = new object[] { new { topic = $"trace{id}.py", group = "_default", path = "/echo" } } });

        var topic = $"trace{id}.js";
        await using var js = await PythonNode.StartAsync("callee", "node.js", ["--gateway", gateway.Address.ToString(), "--topic", topic, "--path", "/hello"]);
        var registered = await js.WaitForAsync(e => (string?)e["event"] is "registered" or "register-failed", "the Node.js node to register itself");
        Assert.True((int?)registered["status"] == 200 && (string?)registered["body"]?["status"] == "ok", $"the Node.js node's registration: {registered.ToJsonString()}");

        // The Python node calls the gateway as a traced client would: POST /request/:id with a traceparent of its own.
        var answer = await SendTracedAsync(python, new Uri(gateway.Address, $"/request/{caller.Id}"), new { topic, message = new { hello = "trace" }, timeout = 20 }, caller.Token);
        Assert.True((int)answer["status"]! == 200, $"the gateway answered the Python node: {answer.ToJsonString()}");
        var (trace, pythonSpan) = Parse((string)answer["traceparent"]!);

        // The Node.js node got the request with the trace in its traceparent header.
        var call = (await js.CallsAsync("/hello")).Single();
        Assert.False(call["traceparent"] is null, $"the Node.js node saw no traceparent header: {call.ToJsonString()}");
        var (nodeTrace, nodeParent) = Parse((string)call["traceparent"]!);
        Assert.Equal(trace, nodeTrace);
        Assert.Equal((string)call["traceparent"]!, (string?)answer["body"]?["messages"]?[0]?["data"]?["traceparent"]);

        // The gateway's spans: HTTP server (child of the Python node's span); across a broker, the bus's producer (the
        // server span's child) and consumer (the producer's), whose id the Node.js node received as its parent (the
        // call to the node is the consumer span; HttpClient adds none). In process the request runs under the server
        // span, which the Node.js node received.
        var server = await SpanAsync(spans, trace, a => a.Kind == ActivityKind.Server && a.ParentSpanId == pythonSpan, "the gateway's HTTP server span");
        var chain = $"spans of trace {trace}: {spans.Describe(trace)}";
        Assert.Equal("Microsoft.AspNetCore", server.Source.Name);
        Assert.Equal("POST", server.GetTagItem("http.request.method"));
        Assert.True(Equals(200, server.GetTagItem("http.response.status_code")), $"the server span's tags: {string.Join(", ", server.TagObjects.Select(t => $"{t.Key}={t.Value}"))}");
        Assert.Equal("/request/{id}", server.GetTagItem("http.route"));
        Assert.Equal("POST /request/{id}", server.DisplayName);
        if (!MessagingTracing.HasProducerSpans(MessagingSystem))
        {
            Assert.True(server.SpanId == nodeParent, $"the Node.js node's traceparent does not name the server span ({nodeParent}); {chain}");
            Assert.True(spans.Of(trace).All(a => a.Source.Name != "Trellis"), $"an in-process request has spans of the bus; {chain}");
            return;
        }

        var producer = await SpanAsync(spans, trace, a => a.Kind == ActivityKind.Producer && a.Source.Name == "Trellis", "the bus producer span");
        var consumer = await SpanAsync(spans, trace, a => a.Kind == ActivityKind.Consumer && a.Source.Name == "Trellis", "the bus consumer span");
        chain = $"spans of trace {trace}: {spans.Describe(trace)}";
        Assert.True(producer.ParentSpanId == server.SpanId, $"the producer is not the server span's child; {chain}");
        Assert.True(consumer.ParentSpanId == producer.SpanId, $"the consumer is not the producer's child; {chain}");
        Assert.True(consumer.SpanId == nodeParent, $"the Node.js node's traceparent does not name the consumer span ({nodeParent}); {chain}");
        Assert.Equal($"process {topic}", consumer.DisplayName);
        Assert.Equal($"publish {topic}", producer.DisplayName);
        foreach (var (span, operation) in new[] { (consumer, "process"), (producer, "publish") })
        {
            Assert.Equal(MessagingSystem, span.GetTagItem("messaging.system"));
            Assert.Equal(topic, span.GetTagItem("messaging.destination.name"));
            Assert.Equal(operation, span.GetTagItem("messaging.operation.type"));
            Assert.Equal(200, span.GetTagItem("trellis.code"));
        }
    }

    /// <summary>Has the Python node POST <paramref name="body"/> to <paramref name="url"/> with a traceparent of a new trace
    /// of its own; its answer is <c>{traceparent, status, body}</c>.</summary>
    internal static async Task<JsonNode> SendTracedAsync(PythonNode python, Uri url, object body, string token)
    {
        var order = JsonSerializer.Serialize(new { url = url.ToString(), body, headers = new Dictionary<string, string> { ["Authorization"] = $"Bearer {token}" } });
        using var control = new HttpClient();
        // With a Content-Length (node.py reads no chunked bodies).
        using var sent = await control.PostAsync(
            $"http://127.0.0.1:{python.Port}/_control/send", new StringContent(order, Encoding.UTF8, "application/json"), TestContext.Current.CancellationToken);
        return JsonNode.Parse(await sent.Content.ReadAsStringAsync(TestContext.Current.CancellationToken))!;
    }

    /// <summary>Trace id and span id of a W3C traceparent.</summary>
    internal static (ActivityTraceId Trace, ActivitySpanId Span) Parse(string traceParent)
    {
        Assert.True(ActivityContext.TryParse(traceParent, null, out var context), $"'{traceParent}' is not a W3C traceparent");
        return (context.TraceId, context.SpanId);
    }

    internal static async Task<Activity> SpanAsync(SpanSink spans, ActivityTraceId trace, Func<Activity, bool> match, string what)
    {
        var found = await Waits.UntilAsync(
            () => Task.FromResult(spans.Of(trace).FirstOrDefault(match)),
            a => a is not null,
            $"{what} in trace {trace} (spans so far: {spans.Describe(trace)})");
        return found!;
    }
}

/// <summary>The one trace on the in-process bus.</summary>
public sealed class OneTraceTests : OneTraceTestsBase
{
    protected override Dictionary<string, string?> Settings(string cluster) => new() { ["Trellis:Transport:Provider"] = "InMemory" };

    protected override string MessagingSystem => "trellis";
}

/// <summary>The one trace over RabbitMQ: the trace context crosses the broker in AMQP headers.</summary>
public sealed class OneTraceRabbitMqTests : OneTraceTestsBase
{
    protected override Dictionary<string, string?> Settings(string cluster) => TestBroker.GatewaySettings(cluster);

    protected override string MessagingSystem => "rabbitmq";
}
