using Grpc.Net.Client;
using Google.Protobuf.WellKnownTypes;
using Trellis.Api.Tests.Infrastructure;
using Trellis.Contracts.V1;
using Grpc.Core;
using Trellis.TestKit;
using static Trellis.Api.Tests.Infrastructure.GrpcApi;

namespace Trellis.Api.Tests;

/// <summary>Every operation of the proxy API over gRPC (trellis.v1.Nodes, trellis.v1.Messaging) with our client,
/// against a real gateway and a real Python HTTP node.</summary>
public sealed class GrpcApiTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;
    private PythonNode _node = null!;

    public async ValueTask InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync();
        _node = await PythonNode.StartAsync("py");
    }

    public async ValueTask DisposeAsync()
    {
        await _node.DisposeAsync();
        await _gateway.DisposeAsync();
    }

    private GrpcChannel Channel => _gateway.Grpc;

    [Fact]
    public async Task Register_get_add_list_remove_and_delete_a_node()
    {
        var registered = await Channel.UnaryAsync(RegisterNode, new RegisterNodeRequest
        {
            Port = _node.Port,
            Services = { new Subscription { Topic = "g.echo", Group = "g", Path = "/echo", Timeout = 5 } },
            Slots = { new Subscription { Topic = "g.events.*", Path = "/echo" } },
        }, As(null));
        Assert.Equal("ok", registered.Status);
        Assert.Matches("^[0-9a-f]{32}$", registered.Id);
        var token = registered.Token;

        var node = await Channel.UnaryAsync(GetNode, new NodeRef { Id = registered.Id }, As(token));
        Assert.Equal(_node.Port, node.Port);
        Assert.Equal("/health", node.HealthCheck);
        Assert.Equal("ok", node.Status);
        Assert.False(node.Stream);
        Assert.Equal("g.echo", Assert.Single(node.Services).Topic);
        Assert.Equal(5, node.Services[0].Timeout);
        Assert.Equal("g.events.*", Assert.Single(node.Slots).Topic);

        Assert.Equal("ok", (await Channel.UnaryAsync(AddSlot, new AddSubscriptionRequest { Id = registered.Id, Topic = "g.more", Path = "/echo" }, As(token))).Status);
        Assert.Equal("ok", (await Channel.UnaryAsync(AddService, new AddSubscriptionRequest { Id = registered.Id, Topic = "g.two", Group = "g", Path = "/echo" }, As(token))).Status);
        var slots = await Channel.UnaryAsync(ListSlots, new NodeRef { Id = registered.Id }, As(token));
        Assert.Equal(["g.events.*", "g.more"], slots.Subscriptions.Select(s => s.Topic));
        var services = await Channel.UnaryAsync(ListServices, new NodeRef { Id = registered.Id }, As(token));
        Assert.Equal(["g.echo", "g.two"], services.Subscriptions.Select(s => s.Topic));

        // The REST API sees the same node.
        var rest = await _gateway.GetAsync($"/nodes/{registered.Id}/slots", token);
        Assert.Equal(2, rest.Json["slots"]!.AsArray().Count);

        await Channel.UnaryAsync(RemoveSlots, new RemoveSubscriptionsRequest { Id = registered.Id, Topic = "g.more" }, As(token));
        await Channel.UnaryAsync(RemoveServices, new RemoveSubscriptionsRequest { Id = registered.Id, Topic = "g.two", Path = "/echo" }, As(token));
        Assert.Single((await Channel.UnaryAsync(ListSlots, new NodeRef { Id = registered.Id }, As(token))).Subscriptions);
        Assert.Single((await Channel.UnaryAsync(ListServices, new NodeRef { Id = registered.Id }, As(token))).Subscriptions);
        await FailsAsync(Channel.UnaryAsync(RemoveSlots, new RemoveSubscriptionsRequest { Id = registered.Id, Topic = "g.more" }, As(token)), StatusCode.NotFound, "has no slot on topic 'g.more'");

        Assert.Equal("ok", (await Channel.UnaryAsync(DeleteNode, new NodeRef { Id = registered.Id }, As(token))).Status);
        await FailsAsync(Channel.UnaryAsync(GetNode, new NodeRef { Id = registered.Id }, As(token)), StatusCode.Unauthenticated, "the bearer token is not valid");
        await FailsAsync(Channel.UnaryAsync(GetNode, new NodeRef { Id = registered.Id }, As(TestGateway.AdminToken)), StatusCode.NotFound, $"no node with id {registered.Id}");
    }

    [Fact]
    public async Task Request_signal_and_composition_reach_an_http_node()
    {
        var node = await Channel.UnaryAsync(RegisterNode, new RegisterNodeRequest
        {
            Port = _node.Port,
            Services =
            {
                new Subscription { Topic = "r.echo", Group = "r", Path = "/echo" },
                new Subscription { Topic = "r.a", Group = "r", Path = "/tag/a" },
                new Subscription { Topic = "r.b", Group = "r", Path = "/tag/b" },
            },
            Slots = { new Subscription { Topic = "r.events.*", Path = "/echo" } },
        }, As(null));

        var reply = await Channel.UnaryAsync(Request, new PublishRequest { Id = node.Id, Topic = "r.echo", Message = Json("""{"n": 1}""") }, As(node.Token));
        Assert.Equal(200, reply.Code);
        Assert.Equal(1, reply.Length);
        var data = reply.Messages[0].Data.StructValue.Fields;
        Assert.Equal("py", data["node"].StringValue);
        Assert.Equal(1, data["data"].StructValue.Fields["n"].NumberValue);

        var piped = await Channel.UnaryAsync(Request, new PublishRequest
        {
            Id = node.Id,
            Composition = Json("""{"pipe": [{"topic": "r.a"}, {"topic": "r.b"}]}"""),
            Message = Json("""{"start": true}"""),
        }, As(node.Token));
        Assert.Equal(200, piped.Code);
        var final = piped.Messages[^1].Data.StructValue.Fields;
        Assert.Equal("py", final["a"].StringValue);
        Assert.Equal("py", final["b"].StringValue);
        Assert.True(final["start"].BoolValue);

        var signal = await Channel.UnaryAsync(Signal, new SignalRequest { Id = node.Id, Topic = "r.events.one", Message = Json("\"hello\"") }, As(node.Token));
        Assert.Equal("ok", signal.Status);
        await _node.WaitForCallsAsync("/echo", 2, "the signal to reach the node");
        Assert.Contains(await _node.CallsAsync("/echo"), c => (string?)c["body"]!["topic"] == "r.events.one" && (string?)c["body"]!["data"] == "hello");
    }

    [Fact]
    public async Task A_request_nobody_serves_is_not_found_with_the_code_and_replies_in_the_trailers()
    {
        var node = await Channel.UnaryAsync(RegisterNode, new RegisterNodeRequest { Port = _node.Port }, As(null));
        var error = await FailsAsync(
            Channel.UnaryAsync(Request, new PublishRequest { Id = node.Id, Topic = "nobody.here" }, As(node.Token)),
            StatusCode.NotFound,
            "No active listeners for: nobody.here");
        Assert.Equal("404", error.Trailers.GetValue("trellis-code"));
        var details = Google.Rpc.Status.Parser.ParseFrom(error.Trailers.GetValueBytes("grpc-status-details-bin")!);
        var response = Assert.Single(details.Details).Unpack<PublishResponse>();
        Assert.Equal(404, response.Code);
        Assert.Equal(404, Assert.Single(response.Messages).Code);
    }

    [Fact]
    public async Task Tokens_are_checked_like_the_http_api()
    {
        var a = await Channel.UnaryAsync(RegisterNode, new RegisterNodeRequest { Port = _node.Port }, As(null));
        var b = await Channel.UnaryAsync(RegisterNode, new RegisterNodeRequest { Port = _node.Port }, As(null));

        await FailsAsync(Channel.UnaryAsync(GetNode, new NodeRef { Id = a.Id }, As(null)), StatusCode.Unauthenticated, "Authorization: Bearer <token> is required");
        await FailsAsync(Channel.UnaryAsync(GetNode, new NodeRef { Id = a.Id }, As("not-a-token")), StatusCode.Unauthenticated, "the bearer token is not valid");
        await FailsAsync(Channel.UnaryAsync(Signal, new SignalRequest { Id = a.Id, Topic = "t" }, As(b.Token)), StatusCode.PermissionDenied, "this token belongs to another node");
        var basic = new CallOptions(new Metadata { { "authorization", "Basic abc" } }, DateTime.UtcNow.AddSeconds(30), TestContext.Current.CancellationToken);
        await FailsAsync(Channel.UnaryAsync(GetNode, new NodeRef { Id = a.Id }, basic), StatusCode.Unauthenticated, "must use the Bearer scheme");
        Assert.Equal(a.Id, (await Channel.UnaryAsync(GetNode, new NodeRef { Id = a.Id }, As(TestGateway.AdminToken))).Id);
    }

    [Fact]
    public async Task Bad_input_gets_the_http_apis_messages_as_invalid_argument()
    {
        await FailsAsync(Channel.UnaryAsync(RegisterNode, new RegisterNodeRequest(), As(null)), StatusCode.InvalidArgument, "port is required");
        await FailsAsync(Channel.UnaryAsync(RegisterNode, new RegisterNodeRequest { Port = 70000 }, As(null)), StatusCode.InvalidArgument, "port must be an integer between 1 and 65535");
        await FailsAsync(
            Channel.UnaryAsync(RegisterNode, new RegisterNodeRequest { Port = _node.Port, Services = { new Subscription { Topic = "x", Path = "/echo" } } }, As(null)),
            StatusCode.InvalidArgument,
            "services[0].group");
        await FailsAsync(
            Channel.UnaryAsync(RegisterNode, new RegisterNodeRequest { Port = _node.Port, Services = { new Subscription { Topic = "x.*", Group = "g", Path = "/echo" } } }, As(null)),
            StatusCode.InvalidArgument,
            "services[0].topic");
        await FailsAsync(Channel.UnaryAsync(RegisterNode, new RegisterNodeRequest { Port = _node.Port, Host = "10.1.2.3" }, As(null)), StatusCode.PermissionDenied, "host '10.1.2.3' is not allowed");

        var node = await Channel.UnaryAsync(RegisterNode, new RegisterNodeRequest { Port = _node.Port }, As(null));
        await FailsAsync(Channel.UnaryAsync(Request, new PublishRequest { Id = node.Id }, As(node.Token)), StatusCode.InvalidArgument, "topic or composition is required");
        await FailsAsync(Channel.UnaryAsync(Request, new PublishRequest { Id = node.Id, Topic = "t", Timeout = -1 }, As(node.Token)), StatusCode.InvalidArgument, "timeout");
        await FailsAsync(Channel.UnaryAsync(RemoveSlots, new RemoveSubscriptionsRequest { Id = node.Id }, As(node.Token)), StatusCode.InvalidArgument, "topic is required");
        await FailsAsync(Channel.UnaryAsync(AddSlot, new AddSubscriptionRequest { Id = node.Id, Topic = "t" }, As(node.Token)), StatusCode.InvalidArgument, "path is required");

        // A message over Trellis:Messaging:MaxPayloadBytes (1 MiB): the HTTP API's 413 is RESOURCE_EXHAUSTED.
        var big = Value.ForString(new string('x', 1024 * 1024 + 10));
        await FailsAsync(Channel.UnaryAsync(Signal, new SignalRequest { Id = node.Id, Topic = "t", Message = big }, As(node.Token)), StatusCode.ResourceExhausted, "the limit is 1048576");
    }

    [Fact]
    public async Task A_grpc_deadline_shorter_than_the_reply_is_deadline_exceeded()
    {
        var node = await Channel.UnaryAsync(RegisterNode, new RegisterNodeRequest
        {
            Port = _node.Port,
            Services = { new Subscription { Topic = "d.slow", Group = "d", Path = "/slow", Timeout = 20 } },
        }, As(null));
        var started = System.Diagnostics.Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<RpcException>(() =>
            Channel.UnaryAsync(Request, new PublishRequest { Id = node.Id, Topic = "d.slow" }, As(node.Token, TimeSpan.FromMilliseconds(500))));
        Assert.Equal(StatusCode.DeadlineExceeded, error.StatusCode);
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(10), $"the deadline took {started.Elapsed}");
    }

    [Fact]
    public async Task Gzip_requests_are_read_and_their_inflated_size_counts_against_the_limit()
    {
        var node = await Channel.UnaryAsync(RegisterNode, new RegisterNodeRequest
        {
            Port = _node.Port,
            Services = { new Subscription { Topic = "z.echo", Group = "z", Path = "/echo", Timeout = 5 } },
        }, As(null));

        // grpc-internal-encoding-request asks Grpc.Net.Client to gzip this call's request message.
        CallOptions Gzip() => new(
            new Metadata { { "authorization", "Bearer " + node.Token }, { "grpc-internal-encoding-request", "gzip" } },
            DateTime.UtcNow.AddSeconds(30),
            TestContext.Current.CancellationToken);
        var message = Value.ForString(new string('a', 200_000));
        var reply = await Channel.UnaryAsync(Request, new PublishRequest { Id = node.Id, Topic = "z.echo", Message = message }, Gzip());
        Assert.Equal(200, reply.Code);
        Assert.Equal(200_000, reply.Messages[0].Data.StructValue.Fields["data"].StringValue.Length);

        // 2 MiB of one letter gzips to a few KiB, but inflated it is over the request limit.
        var huge = Value.ForString(new string('a', 2 * 1024 * 1024));
        var error = await Assert.ThrowsAsync<RpcException>(() => Channel.UnaryAsync(Signal, new SignalRequest { Id = node.Id, Topic = "z.sig", Message = huge }, Gzip()));
        Assert.True(error.StatusCode == StatusCode.ResourceExhausted, $"expected RESOURCE_EXHAUSTED, got {error.StatusCode}: {error.Status.Detail}");
    }

    [Fact]
    public async Task A_handler_timeout_is_deadline_exceeded_with_code_504()
    {
        var node = await Channel.UnaryAsync(RegisterNode, new RegisterNodeRequest
        {
            Port = _node.Port,
            Services = { new Subscription { Topic = "d.cut", Group = "d", Path = "/slow", Timeout = 0.3 } },
        }, As(null));
        var error = await FailsAsync(
            Channel.UnaryAsync(Request, new PublishRequest { Id = node.Id, Topic = "d.cut" }, As(node.Token)),
            StatusCode.DeadlineExceeded,
            "Execution timed out after 300 ms");
        Assert.Equal("504", error.Trailers.GetValue("trellis-code"));
    }

    [Fact]
    public async Task Grpc_health_is_serving_when_the_gateway_is_ready()
    {
        var check = GrpcApi.HealthCheck;
        await Waits.Within(
            Task.Run(async () =>
            {
                while ((await Channel.UnaryAsync(check, new global::Grpc.Health.V1.HealthCheckRequest { Service = "trellis.v1.Nodes" }, As(null))).Status
                    != global::Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.Serving)
                {
                    await Task.Delay(50, TestContext.Current.CancellationToken);
                }
            }, TestContext.Current.CancellationToken),
            "grpc.health.v1 to report trellis.v1.Nodes SERVING");
        var whole = await Channel.UnaryAsync(check, new global::Grpc.Health.V1.HealthCheckRequest(), As(null));
        Assert.Equal(global::Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.Serving, whole.Status);
    }
}
