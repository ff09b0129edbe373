using Google.Protobuf.WellKnownTypes;
using Trellis.Api.Tests.Infrastructure;
using Trellis.Contracts.V1;
using Grpc.Core;
using Grpc.Net.Client;
using static Trellis.Api.Tests.Infrastructure.GrpcApi;

namespace Trellis.Api.Tests;

/// <summary>The apps API over gRPC (trellis.v1.Apps) on the gateway's h2c port: ack and nack, idempotent pokes, peek,
/// wipe, kill, a watch as a server stream, leave, and the status codes of bad calls.</summary>
public sealed class AppsGrpcTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;

    public async ValueTask InitializeAsync() => _gateway = await TestGateway.StartAsync(role: "silo");

    public async ValueTask DisposeAsync() => await _gateway.DisposeAsync();

    private GrpcChannel Channel => _gateway.Grpc;

    private static string NewApp() => $"g-{Guid.NewGuid():N}"[..20];

    private static CallOptions Admin => As(TestGateway.AdminToken);

    [Fact]
    public async Task Create_poke_peek_get_wipe_and_kill()
    {
        var app = NewApp();
        var created = await Channel.UnaryAsync(CreateApp, new CreateAppRequest { App = app, Agent = "counter" }, Admin);
        Assert.True(created.Created);
        var again = await Channel.UnaryAsync(CreateApp, new CreateAppRequest { App = app, Agent = "counter" }, Admin);
        Assert.False(again.Created);

        var ack = await Channel.UnaryAsync(Poke, new PokeRequest { App = app, Mark = "add", Data = Json("""{"by": 5}""") }, Admin);
        Assert.True(ack.Data.StructValue.Fields["ack"].BoolValue);

        var peek = await Channel.UnaryAsync(Peek, new PeekRequest { App = app, Path = "/count" }, Admin);
        Assert.Equal(5, peek.Data.StructValue.Fields["count"].NumberValue);

        var info = await Channel.UnaryAsync(GetApp, new AppRef { App = app }, Admin);
        Assert.Equal("counter", info.Data.StructValue.Fields["agent"].StringValue);

        await Channel.UnaryAsync(Wipe, new AppRef { App = app }, Admin);
        peek = await Channel.UnaryAsync(Peek, new PeekRequest { App = app, Path = "/count" }, Admin);
        Assert.Equal(0, peek.Data.StructValue.Fields["count"].NumberValue);

        await Channel.UnaryAsync(KillApp, new AppRef { App = app }, Admin);
        var gone = await Assert.ThrowsAsync<RpcException>(() => Channel.UnaryAsync(GetApp, new AppRef { App = app }, Admin));
        Assert.Equal(StatusCode.NotFound, gone.StatusCode);
    }

    [Fact]
    public async Task A_nack_is_failed_precondition_with_the_apps_text_and_code()
    {
        var app = NewApp();
        await Channel.UnaryAsync(CreateApp, new CreateAppRequest { App = app, Agent = "counter" }, Admin);
        using var call = Channel.Unary(Poke, new PokeRequest { App = app, Mark = "jump", Data = Json("1") }, Admin);
        var nack = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync);
        Assert.Equal(StatusCode.FailedPrecondition, nack.StatusCode);
        Assert.Contains("add and reset", nack.Status.Detail);
        Assert.Equal("400", call.GetTrailers().GetValue("trellis-app-code"));

        var peek = await Channel.UnaryAsync(Peek, new PeekRequest { App = app, Path = "/count" }, Admin);
        Assert.Equal(0, peek.Data.StructValue.Fields["count"].NumberValue);
    }

    [Fact]
    public async Task A_poke_retried_with_its_id_is_applied_once_whichever_api_retries_it()
    {
        var app = NewApp();
        await Channel.UnaryAsync(CreateApp, new CreateAppRequest { App = app, Agent = "counter" }, Admin);
        for (var i = 0; i < 3; i++)
        {
            await Channel.UnaryAsync(Poke, new PokeRequest { App = app, Mark = "add", Data = Json("""{"by": 2}"""), Id = "retry-7" }, Admin);
        }

        var http = await _gateway.PostAsync($"/apps/{app}:poke", new { mark = "add", data = new { by = 2 }, id = "retry-7" }, TestGateway.AdminToken);
        Assert.True(http.Status == 200, $"the HTTP retry answered {http}");
        var peek = await Channel.UnaryAsync(Peek, new PeekRequest { App = app, Path = "/count" }, Admin);
        Assert.Equal(2, peek.Data.StructValue.Fields["count"].NumberValue);
    }

    [Fact]
    public async Task A_watch_streams_ack_initial_facts_facts_and_ends_with_the_kick()
    {
        var app = NewApp();
        await Channel.UnaryAsync(CreateApp, new CreateAppRequest { App = app, Agent = "counter" }, Admin);
        await Channel.UnaryAsync(Poke, new PokeRequest { App = app, Mark = "add", Data = Json("""{"by": 3}""") }, Admin);

        using var call = Channel.ServerStreaming(Watch, new WatchRequest { App = app, Path = "/count" }, Admin);
        await using var events = call.ResponseStream.ReadAllAsync().GetAsyncEnumerator(TestContext.Current.CancellationToken);
        var ack = await NextAsync(events, "the watch-ack");
        Assert.Equal(WatchEvent.Types.Kind.WatchAck, ack.Kind);
        Assert.NotEmpty(ack.Subscriber);
        var initial = await NextAsync(events, "the initial fact");
        Assert.Equal(WatchEvent.Types.Kind.Fact, initial.Kind);
        Assert.Equal(3, initial.Data.StructValue.Fields["count"].NumberValue);

        await Channel.UnaryAsync(Poke, new PokeRequest { App = app, Mark = "add", Data = Json("""{"by": 1}""") }, Admin);
        var fact = await NextAsync(events, "the fact of the poke");
        Assert.Equal(4, fact.Data.StructValue.Fields["count"].NumberValue);

        await Channel.UnaryAsync(Wipe, new AppRef { App = app }, Admin);
        var kick = await NextAsync(events, "the kick of the wipe");
        Assert.Equal(WatchEvent.Types.Kind.Kick, kick.Kind);
        Assert.False(await events.MoveNextAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken));
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
    }

    [Fact]
    public async Task Leave_ends_the_stream_and_the_app_forgets_the_watcher()
    {
        var app = NewApp();
        await Channel.UnaryAsync(CreateApp, new CreateAppRequest { App = app, Agent = "chat" }, Admin);
        using var call = Channel.ServerStreaming(Watch, new WatchRequest { App = app, Path = "/messages" }, Admin);
        await using var events = call.ResponseStream.ReadAllAsync().GetAsyncEnumerator(TestContext.Current.CancellationToken);
        var ack = await NextAsync(events, "the watch-ack");
        Assert.Equal(1, (await Watchers(app)));

        await Channel.UnaryAsync(Leave, new LeaveRequest { App = app, Path = "/messages", Subscriber = ack.Subscriber }, Admin);
        Assert.False(await events.MoveNextAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken));
        await AppsApiTests.Eventually(async () => await Watchers(app) == 0, "the app to forget the watcher");
    }

    [Fact]
    public async Task Cancelling_the_watch_call_leaves_the_watch()
    {
        var app = NewApp();
        await Channel.UnaryAsync(CreateApp, new CreateAppRequest { App = app, Agent = "chat" }, Admin);
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var options = new CallOptions(Admin.Headers, Admin.Deadline, cancel.Token);
        using (var call = Channel.ServerStreaming(Watch, new WatchRequest { App = app, Path = "/messages" }, options))
        {
            await using var events = call.ResponseStream.ReadAllAsync().GetAsyncEnumerator(cancel.Token);
            await NextAsync(events, "the watch-ack");
            Assert.Equal(1, await Watchers(app));
            await cancel.CancelAsync();
        }

        await AppsApiTests.Eventually(async () => await Watchers(app) == 0, "the app to forget the cancelled watcher");
    }

    [Fact]
    public async Task Bad_calls_get_a_status_that_names_the_problem()
    {
        var noToken = await Assert.ThrowsAsync<RpcException>(() =>
            Channel.UnaryAsync(GetApp, new AppRef { App = "x" }, new CallOptions(cancellationToken: TestContext.Current.CancellationToken)));
        Assert.Equal(StatusCode.Unauthenticated, noToken.StatusCode);
        Assert.Contains("Bearer", noToken.Status.Detail);

        var badToken = await Assert.ThrowsAsync<RpcException>(() => Channel.UnaryAsync(GetApp, new AppRef { App = "x" }, As("not-a-token")));
        Assert.Equal(StatusCode.Unauthenticated, badToken.StatusCode);

        var badName = await Assert.ThrowsAsync<RpcException>(() => Channel.UnaryAsync(GetApp, new AppRef { App = "no spaces or !" }, Admin));
        Assert.Equal(StatusCode.InvalidArgument, badName.StatusCode);
        Assert.Contains("no spaces or !", badName.Status.Detail);

        var noMark = await Assert.ThrowsAsync<RpcException>(() => Channel.UnaryAsync(Poke, new PokeRequest { App = NewApp() }, Admin));
        Assert.Equal(StatusCode.InvalidArgument, noMark.StatusCode);
        Assert.Contains("'mark' is required", noMark.Status.Detail);

        var noAgent = await Assert.ThrowsAsync<RpcException>(() => Channel.UnaryAsync(CreateApp, new CreateAppRequest { App = NewApp() }, Admin));
        Assert.Equal(StatusCode.InvalidArgument, noAgent.StatusCode);

        var unknownAgent = await Assert.ThrowsAsync<RpcException>(() =>
            Channel.UnaryAsync(CreateApp, new CreateAppRequest { App = NewApp(), Agent = "nobody-serves-this" }, Admin));
        Assert.Equal(StatusCode.NotFound, unknownAgent.StatusCode);
        Assert.Contains("nobody-serves-this", unknownAgent.Status.Detail);

        var badSubscriber = await Assert.ThrowsAsync<RpcException>(() =>
            Channel.UnaryAsync(Leave, new LeaveRequest { App = NewApp(), Subscriber = "no spaces allowed" }, Admin));
        Assert.Equal(StatusCode.InvalidArgument, badSubscriber.StatusCode);

        var unknown = await Assert.ThrowsAsync<RpcException>(() =>
            Channel.UnaryAsync(Poke, new PokeRequest { App = NewApp(), Mark = "add", Data = Json("""{"by": 1}""") }, Admin));
        Assert.Equal(StatusCode.NotFound, unknown.StatusCode);
    }

    private async Task<int> Watchers(string app) =>
        (int)(await Channel.UnaryAsync(GetApp, new AppRef { App = app }, Admin)).Data.StructValue.Fields["watchers"].NumberValue;

    internal static async Task<WatchEvent> NextAsync(IAsyncEnumerator<WatchEvent> events, string what)
    {
        var more = await events.MoveNextAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken);
        Assert.True(more, $"the watch ended before {what}");
        return events.Current;
    }
}

/// <summary>An app whose agent is a gRPC stream node (Connect, serving <c>trellis.agents.&lt;name&gt;</c>) with no HTTP
/// server of its own; the cluster keeps the state, the watchers and the acks.</summary>
public sealed class StreamNodeAgentTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;

    public async ValueTask InitializeAsync() => _gateway = await TestGateway.StartAsync(role: "silo");

    public async ValueTask DisposeAsync() => await _gateway.DisposeAsync();

    /// <summary>A counter agent computed by the test: the RemoteAgent protocol's steps (src/Core/Apps/RemoteAgent.cs).</summary>
    private static Reply Counter(Delivery delivery)
    {
        var e = delivery.Data.StructValue.Fields;
        var count = e.TryGetValue("state", out var s) && s.KindCase == Value.KindOneofCase.StructValue && s.StructValue.Fields.TryGetValue("count", out var c)
            ? (long)c.NumberValue
            : 0;
        string? Text(string name) => e.TryGetValue(name, out var v) && v.KindCase == Value.KindOneofCase.StringValue ? v.StringValue : null;
        long Number(string name, string field) =>
            e.TryGetValue(name, out var v) && v.KindCase == Value.KindOneofCase.StructValue && v.StructValue.Fields.TryGetValue(field, out var n) ? (long)n.NumberValue : 0;
        (int Code, object Answer) step = Text("event") switch
        {
            "describe" => (200, new { version = "1" }),
            "init" => (200, new { state = new { count = Number("data", "count") } }),
            "poke" when Text("mark") == "add" => (200, new
            {
                state = new { count = count + Number("data", "by") },
                effects = new[] { new { fact = new { path = "/count", data = new { count = count + Number("data", "by") } } } },
            }),
            "poke" => (400, "the stream counter takes add {by}"),
            "watch" => (200, new { effects = new[] { new { give = new { data = new { count } } } } }),
            "peek" => (200, new { peek = new { count } }),
            _ => (200, new { }),
        };
        var json = System.Text.Json.JsonSerializer.Serialize(step.Answer);
        return new Reply { CorrelationId = delivery.CorrelationId, Code = step.Code, Data = Value.Parser.ParseJson(json) };
    }

    private async Task<StreamNode> StartAgentAsync(string agent, string name)
    {
        var register = new RegisterNodeRequest();
        register.Services.Add(new Subscription { Topic = $"trellis.agents.{agent}", Group = "_default" });
        var node = await StreamNode.RegisterAsync(_gateway.Grpc, name, register);
        node.Handler = Counter;
        return node;
    }

    [Fact]
    public async Task Pokes_watches_and_nacks_go_through_the_stream_and_the_state_outlives_it()
    {
        var agent = $"sa-{Guid.NewGuid():N}"[..16];
        var app = $"stream-{Guid.NewGuid():N}"[..20];
        var admin = GrpcApi.As(TestGateway.AdminToken);
        var first = await StartAgentAsync(agent, "first");
        await using (first)
        {
            var created = await _gateway.Grpc.UnaryAsync(GrpcApi.CreateApp, new CreateAppRequest { App = app, Agent = agent, Init = GrpcApi.Json("""{"count": 10}""") }, admin);
            Assert.True(created.Created);

            using var watch = _gateway.Grpc.ServerStreaming(GrpcApi.Watch, new WatchRequest { App = app, Path = "/count" }, admin);
            await using var events = watch.ResponseStream.ReadAllAsync().GetAsyncEnumerator(TestContext.Current.CancellationToken);
            Assert.Equal(WatchEvent.Types.Kind.WatchAck, (await AppsGrpcTests.NextAsync(events, "the watch-ack")).Kind);
            Assert.Equal(10, (await AppsGrpcTests.NextAsync(events, "the initial fact")).Data.StructValue.Fields["count"].NumberValue);

            await _gateway.Grpc.UnaryAsync(GrpcApi.Poke, new PokeRequest { App = app, Mark = "add", Data = GrpcApi.Json("""{"by": 5}""") }, admin);
            Assert.Equal(15, (await AppsGrpcTests.NextAsync(events, "the fact of the poke")).Data.StructValue.Fields["count"].NumberValue);

            await GrpcApi.FailsAsync(
                _gateway.Grpc.UnaryAsync(GrpcApi.Poke, new PokeRequest { App = app, Mark = "jump", Data = GrpcApi.Json("1") }, admin),
                StatusCode.FailedPrecondition, "the stream counter takes add");
            Assert.Contains(first.Seen, m => m.KindCase == GatewayMessage.KindOneofCase.Request && m.Request.Topic == $"trellis.agents.{agent}");
        }

        // The stream is gone, and with it the agent: pokes are refused as unavailable and change nothing.
        await AppsApiTests.Eventually(async () =>
        {
            try
            {
                await _gateway.Grpc.UnaryAsync(GrpcApi.Poke, new PokeRequest { App = app, Mark = "add", Data = GrpcApi.Json("""{"by": 1}""") }, admin);
                return false;
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.Unavailable)
            {
                return true;
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.DeadlineExceeded)
            {
                // A poke sent while the gateway had not yet seen the stream end waited for its node's timeout.
                return false;
            }
        }, "pokes to be refused as unavailable once the agent's stream ended");

        await using var second = await StartAgentAsync(agent, "second");
        await _gateway.Grpc.UnaryAsync(GrpcApi.Poke, new PokeRequest { App = app, Mark = "add", Data = GrpcApi.Json("""{"by": 2}""") }, admin);
        var peek = await _gateway.Grpc.UnaryAsync(GrpcApi.Peek, new PeekRequest { App = app, Path = "/count" }, admin);
        Assert.Equal(17, peek.Data.StructValue.Fields["count"].NumberValue);
    }
}
