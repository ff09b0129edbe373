using Trellis.Api.Tests.Infrastructure;
using Trellis.Api.Proxy;
using Trellis.Contracts.V1;
using Trellis.Core.Nodes;
using Grpc.Core;
using Trellis.TestKit;
using static Trellis.Api.Tests.Infrastructure.GrpcApi;

namespace Trellis.Api.Tests;

/// <summary>Nodes served by a Connect stream: requests and signals arrive on the stream, replies go back on it; groups
/// and wildcards behave as for HTTP nodes; the stream is the node's liveness.</summary>
public sealed class GrpcNodeStreamTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;
    private readonly List<IAsyncDisposable> _owned = [];

    public async ValueTask InitializeAsync() => _gateway = await TestGateway.StartAsync();

    public async ValueTask DisposeAsync()
    {
        foreach (var owned in _owned)
        {
            await owned.DisposeAsync();
        }

        await _gateway.DisposeAsync();
    }

    private async Task<StreamNode> StreamAsync(string name, params Subscription[] services)
    {
        var register = new RegisterNodeRequest();
        register.Services.AddRange(services);
        var node = await StreamNode.RegisterAsync(_gateway.Grpc, name, register);
        _owned.Add(node);
        return node;
    }

    [Fact]
    public async Task A_stream_node_answers_requests_and_gets_wildcard_signals()
    {
        var register = new RegisterNodeRequest
        {
            Services = { new Subscription { Topic = "s.echo", Group = "s" } },
            Slots = { new Subscription { Topic = "s.events.*" } },
        };
        var node = await StreamNode.RegisterAsync(_gateway.Grpc, "stream", register);
        _owned.Add(node);
        Assert.Equal("ok", node.Status);
        Assert.Matches("^[0-9a-f]{32}$", node.Id);

        var info = await _gateway.Grpc.UnaryAsync(GetNode, new NodeRef { Id = node.Id }, As(node.Token));
        Assert.True(info.Stream);
        Assert.Equal(0, info.Port);

        // Over gRPC and over HTTP, as the node itself.
        var reply = await _gateway.Grpc.UnaryAsync(Request, new PublishRequest { Id = node.Id, Topic = "s.echo", Message = Json("7") }, As(node.Token));
        Assert.Equal("stream", reply.Messages[0].Data.StructValue.Fields["node"].StringValue);
        var request = (await node.NextAsync("the first request")).Request;
        Assert.Equal("s.echo", request.Topic);
        Assert.Equal(7, request.Data.NumberValue);
        Assert.False(string.IsNullOrEmpty(request.CorrelationId));

        var http = await _gateway.PostAsync($"/request/{node.Id}", new { topic = "s.echo", message = new { x = 1 } }, node.Token);
        Assert.Equal(200, http.Status);
        Assert.Equal("stream", (string?)http.Json["messages"]![0]!["data"]!["node"]);
        await node.NextAsync("the second request");

        await _gateway.Grpc.UnaryAsync(Signal, new SignalRequest { Id = node.Id, Topic = "s.events.deep", Message = Json("\"ping\"") }, As(node.Token));
        var signal = await node.NextAsync("the wildcard signal");
        Assert.Equal(GatewayMessage.KindOneofCase.Signal, signal.KindCase);
        Assert.Equal("s.events.deep", signal.Signal.Topic);
        Assert.Equal("ping", signal.Signal.Data.StringValue);

        // Not a match for "s.events.*": nothing arrives.
        await _gateway.Grpc.UnaryAsync(Signal, new SignalRequest { Id = node.Id, Topic = "s.other", Message = Json("1") }, As(node.Token));
        Assert.Equal(3, node.Seen.Count);
    }

    [Fact]
    public async Task An_http_node_and_a_stream_node_in_one_group_execute_each_request_once()
    {
        await using var python = await PythonNode.StartAsync("http");
        var http = await _gateway.RegisterAsync(new { port = python.Port, services = new object[] { new { topic = "mix.work", group = "workers", path = "/echo" } } });
        var stream = await StreamAsync("stream", new Subscription { Topic = "mix.work", Group = "workers" });

        const int Requests = 20;
        var replies = await Task.WhenAll(Enumerable.Range(0, Requests).Select(i =>
            _gateway.Grpc.UnaryAsync(Request, new PublishRequest { Id = http.Id, Topic = "mix.work", Message = Json(i.ToString(System.Globalization.CultureInfo.InvariantCulture)) }, As(http.Token))));
        var answeredBy = replies.Select(r => r.Messages[0].Data.StructValue.Fields["node"].StringValue).ToArray();

        // The Python node reports its calls on stdout, which may trail its answers a little.
        await python.WaitForCallsAsync("/echo", Requests - stream.Seen.Count, "the HTTP node's share of the calls");
        var viaHttp = (await python.CallsAsync("/echo")).Select(c => (int)c["body"]!["data"]!);
        var viaStream = stream.Seen.Select(m => (int)m.Request.Data.NumberValue);
        Assert.Equal(Enumerable.Range(0, Requests), viaHttp.Concat(viaStream).Order());
        Assert.Contains("http", answeredBy);
        Assert.Contains("stream", answeredBy);
    }

    [Fact]
    public async Task A_reply_past_the_timeout_is_504_and_the_late_reply_is_dropped()
    {
        var node = await StreamAsync("late", new Subscription { Topic = "late.work", Group = "g", Timeout = 0.3 });
        node.Handler = static _ => null;

        var error = await FailsAsync(
            _gateway.Grpc.UnaryAsync(Request, new PublishRequest { Id = node.Id, Topic = "late.work" }, As(node.Token)),
            StatusCode.DeadlineExceeded,
            "Execution timed out after 300 ms");
        Assert.Equal("504", error.Trailers.GetValue("trellis-code"));

        var http = await _gateway.PostAsync($"/request/{node.Id}", new { topic = "late.work" }, node.Token);
        Assert.Equal(504, http.Status);

        // The node answers afterwards: nobody waits any more, and the stream carries on.
        var missed = (await node.NextAsync("the first request")).Request;
        node.Handler = d => new Reply { CorrelationId = d.CorrelationId, Data = Json("\"on time\"") };
        await StreamNodeReplyAsync(node, missed.CorrelationId);
        var ok = await _gateway.Grpc.UnaryAsync(Request, new PublishRequest { Id = node.Id, Topic = "late.work" }, As(node.Token));
        Assert.Equal("on time", ok.Messages[0].Data.StringValue);
    }

    private static Task StreamNodeReplyAsync(StreamNode node, string correlationId) =>
        node.SendReplyAsync(new Reply { CorrelationId = correlationId, Data = Json("\"too late\"") });

    [Fact]
    public async Task A_broken_stream_makes_the_node_dirty_and_attaching_with_its_token_brings_it_back()
    {
        var node = await StreamAsync("fickle", new Subscription { Topic = "fickle.work", Group = "g" });
        var dirty = WaitForStatusChangeAsync(node.Id, NodeStatus.Dirty, "the stream to break");
        await node.AbortAsync();
        await dirty;

        var gone = await FailsAsync(
            _gateway.Grpc.UnaryAsync(Request, new PublishRequest { Id = node.Id, Topic = "fickle.work" }, As(node.Token)),
            StatusCode.NotFound,
            "No active listeners for: fickle.work");
        Assert.NotNull(gone);
        Assert.Equal("dirty", (await _gateway.Grpc.UnaryAsync(GetNode, new NodeRef { Id = node.Id }, As(node.Token))).Status);

        var again = await StreamNode.AttachAsync(_gateway.Grpc, "fickle-again", node.Id, node.Token);
        _owned.Add(again);
        Assert.Equal(node.Id, again.Id);
        Assert.Equal("ok", again.Status);
        var reply = await _gateway.Grpc.UnaryAsync(Request, new PublishRequest { Id = node.Id, Topic = "fickle.work" }, As(node.Token));
        Assert.Equal("fickle-again", reply.Messages[0].Data.StructValue.Fields["node"].StringValue);

        // One stream per node at a time.
        var refused = await Assert.ThrowsAsync<RpcException>(() => StreamNode.AttachAsync(_gateway.Grpc, "third", node.Id, node.Token));
        Assert.Equal(StatusCode.AlreadyExists, refused.StatusCode);
        Assert.Contains("already connected", refused.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_stream_node_that_ends_its_stream_cleanly_is_deleted()
    {
        var node = await StreamAsync("polite", new Subscription { Topic = "polite.work", Group = "g" });
        await node.CompleteAsync();
        await Waits.Within(
            Task.Run(async () =>
            {
                while (_gateway.Registry.StatusOf(node.Id) is not null)
                {
                    await Task.Delay(20, TestContext.Current.CancellationToken);
                }
            }, TestContext.Current.CancellationToken),
            $"node {node.Id} to be deleted after its stream ended cleanly");
        await FailsAsync(_gateway.Grpc.UnaryAsync(GetNode, new NodeRef { Id = node.Id }, As(node.Token)), StatusCode.Unauthenticated, "its node was deleted");
    }

    [Fact]
    public async Task Deleting_a_stream_node_ends_its_stream_with_not_found()
    {
        var node = await StreamAsync("doomed", new Subscription { Topic = "doomed.work", Group = "g" });
        var deleted = await _gateway.DeleteAsync($"/nodes/{node.Id}", node.Token);
        Assert.Equal(200, deleted.Status);
        await node.WaitEndedAsync("the gateway to end the stream of a deleted node");
        Assert.NotNull(node.EndedWith);
        Assert.Equal(StatusCode.NotFound, node.EndedWith.StatusCode);
        Assert.Contains($"node {node.Id} was deleted", node.EndedWith.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stream_nodes_are_not_health_checked_over_http()
    {
        var node = await StreamAsync("steady", new Subscription { Topic = "steady.work", Group = "g" });
        await using var python = await PythonNode.StartAsync("probe");
        var probe = await _gateway.RegisterAsync(new { port = python.Port });

        // Several health rounds (every 0.2 s here) pass for the HTTP node; the stream node stays ok and is never checked.
        var checkedIds = new System.Collections.Concurrent.ConcurrentBag<string>();
        _gateway.Registry.HealthChecked += e => checkedIds.Add(e.NodeId);
        for (var i = 0; i < 3; i++)
        {
            await _gateway.WaitForStatusAsync(probe.Id, NodeStatus.Ok, $"health round {i}");
        }

        Assert.DoesNotContain(node.Id, checkedIds);
        Assert.Equal(NodeStatus.Ok, _gateway.Registry.StatusOf(node.Id));
    }

    [Fact]
    public async Task A_bad_first_message_or_token_ends_the_stream_with_a_clear_status()
    {
        var replyFirst = _gateway.Grpc.DuplexStreaming(Connect, As(null));
        await replyFirst.RequestStream.WriteAsync(new NodeMessage { Reply = new Reply { CorrelationId = "1" } });
        var error = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await foreach (var _ in replyFirst.ResponseStream.ReadAllAsync())
            {
            }
        });
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("must be register or attach", error.Status.Detail, StringComparison.Ordinal);

        var badToken = _gateway.Grpc.DuplexStreaming(Connect, As("wrong-token"));
        await badToken.RequestStream.WriteAsync(new NodeMessage { Attach = new NodeRef { Id = new string('a', 32) } });
        error = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await foreach (var _ in badToken.ResponseStream.ReadAllAsync())
            {
            }
        });
        Assert.Equal(StatusCode.Unauthenticated, error.StatusCode);

        var withPort = _gateway.Grpc.DuplexStreaming(Connect, As(null));
        await withPort.RequestStream.WriteAsync(new NodeMessage { Register = new RegisterNodeRequest { Port = 8080 } });
        error = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await foreach (var _ in withPort.ResponseStream.ReadAllAsync())
            {
            }
        });
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("port must not be set", error.Status.Detail, StringComparison.Ordinal);
    }

    private Task WaitForStatusChangeAsync(string id, NodeStatus status, string phase)
    {
        var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnChanged(NodeStatusEvent e)
        {
            if (e.NodeId == id && e.Status == status)
            {
                reached.TrySetResult();
            }
        }

        _gateway.Registry.StatusChanged += OnChanged;
        return reached.Task.Within($"{phase}: node {id} to become {status.ToWire()}")
            .ContinueWith(t => { _gateway.Registry.StatusChanged -= OnChanged; return t; }, TaskScheduler.Default).Unwrap();
    }
}
