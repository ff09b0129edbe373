using System.Text.Json.Nodes;
using Grpc.Core;
using Orleans;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using Trellis.Api.Edge;
using Trellis.Api.Edge.Link;
using Trellis.Api.Tests.Infrastructure;
using Trellis.Contracts.V1;
using Trellis.Core.Bus;
using Trellis.Core.Messaging;
using Trellis.Core.Topics;
using Trellis.Edge.Link;
using Trellis.Edge.Services;
using Trellis.Grains.Devices;
using Trellis.Hosting.Messaging;
using Trellis.TestKit;
using Priority = Trellis.Edge.Work.Priority;

namespace Trellis.Api.Tests.Edge.Link;

/// <summary>The device link end to end: a real agent (<see cref="EdgeLink"/>) with a real HTTP program on the device,
/// linked to <see cref="EdgeLinks"/> over a real gateway's bus and device grains.</summary>
public sealed class EdgeLinkTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;
    private LinkHost _host = null!;
    private DeviceProgram _program = null!;
    private GrpcChannel _channel = null!;
    private readonly List<IAsyncDisposable> _devices = [];

    public async ValueTask InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync();
        _host = await LinkHost.StartAsync(_gateway);
        _program = await DeviceProgram.StartAsync();
        _channel = GrpcChannel.ForAddress(_host.Address);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var device in _devices)
        {
            await device.DisposeAsync();
        }

        _channel.Dispose();
        await _host.DisposeAsync();
        await _program.DisposeAsync();
        await _gateway.DisposeAsync();
    }

    private MessageBus Bus => _gateway.Services.GetRequiredService<BusHost>().Bus;

    private T Track<T>(T device)
        where T : IAsyncDisposable
    {
        _devices.Add(device);
        return device;
    }

    private async Task<TestDevice> LinkedDeviceAsync(string phase, params string[] grant)
    {
        var provider = Devices.NewProvider();
        var token = await Devices.IssueTokenAsync(_gateway, provider, grant);
        var device = Track(new TestDevice(_host.Address, provider, token));
        device.Services.Publish(new LocalService("acme", "echo", new Uri(_program.Address, "/echo").ToString(), Scope.All));
        device.Start();
        await device.WaitUpAsync(phase);
        return device;
    }

    private Task<Message> RequestAsync(string topic, string json = "null", TimeSpan? timeout = null) =>
        Bus.RequestAsync(topic, JsonPayload.Parse(json), timeout ?? TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken);

    [Fact]
    public async Task A_cluster_request_travels_down_the_link_to_the_device_program_and_back()
    {
        var device = await LinkedDeviceAsync("linking");

        var reply = await RequestAsync("edge.acme.echo", """{"n":1}""");
        Assert.True(reply.Code == 200, $"edge.acme.echo answered {reply.Code}: {reply.Data}");
        Assert.Equal("""{"echo":{"n":1},"by":"device"}""", JsonNode.Parse(reply.Data.ToString())!.ToJsonString());
        lock (device.Scheduler.Posted)
        {
            Assert.Contains(Priority.Normal, device.Scheduler.Posted);
        }

        // The same through the gateway's HTTP API, as a registered node asks it.
        var node = await _gateway.RegisterAsync(new { port = _program.Port });
        var http = await _gateway.PostAsync($"/request/{node.Id}", new { topic = "edge.acme.echo", message = new { n = 2 } }, node.Token);
        Assert.True(http.Status == 200, $"POST /request answered {http}");
        Assert.Contains("\"by\":\"device\"", http.Body);
    }

    [Fact]
    public async Task The_instance_topic_reaches_that_device_and_names_are_the_device_s_own()
    {
        var device = await LinkedDeviceAsync("linking");

        var reply = await RequestAsync(EdgeTopics.Instance("acme", "echo", device.Provider), "\"hi\"");
        Assert.True(reply.Code == 200, $"the instance topic answered {reply.Code}: {reply.Data}");
        Assert.Contains("\"echo\":\"hi\"", reply.Data.ToString());

        var other = await RequestAsync(EdgeTopics.Instance("acme", "echo", "someoneelse"));
        Assert.Equal(Codes.NotFound, other.Code);
    }

    [Fact]
    public async Task Services_published_later_are_served_unpublished_ones_are_gone_and_the_program_s_errors_come_back()
    {
        var device = await LinkedDeviceAsync("linking");
        device.Services.Publish(new LocalService("acme", "fail", new Uri(_program.Address, "/fail").ToString(), Scope.All));
        device.Services.Publish(new LocalService("acme", "local", new Uri(_program.Address, "/echo").ToString(), Scope.OS | Scope.Lan));

        var failed = await Waits.UntilAsync(() => RequestAsync("edge.acme.fail"), m => m.Code != Codes.NotFound, "edge.acme.fail to be served after its publication");
        Assert.Equal(500, failed.Code);
        Assert.Equal("\"the program failed\"", failed.Data.ToString());
        Assert.Equal(Codes.NotFound, (await RequestAsync("edge.acme.local")).Code);

        device.Services.Unpublish("acme", "echo");
        await Waits.UntilAsync(() => RequestAsync("edge.acme.echo"), m => m.Code == Codes.NotFound, "edge.acme.echo to be 404 after it was unpublished");
    }

    [Fact]
    public async Task A_slow_device_program_gives_504()
    {
        await using var host = await LinkHost.StartAsync(_gateway, new EdgeLinkOptions { RequestTimeout = TimeSpan.FromSeconds(1) });
        var provider = Devices.NewProvider();
        var device = Track(new TestDevice(host.Address, provider, await Devices.IssueTokenAsync(_gateway, provider)));
        device.Services.Publish(new LocalService("acme", "slow", new Uri(_program.Address, "/slow").ToString(), Scope.All));
        device.Start();
        await device.WaitUpAsync("linking");

        var reply = await RequestAsync("edge.acme.slow", timeout: TimeSpan.FromSeconds(20));
        Assert.True(reply.Code == Codes.HandlerTimeout, $"a slow program answered {reply.Code}: {reply.Data}");
        await device.DisposeAsync();
    }

    [Fact]
    public async Task Once_the_link_is_gone_requests_get_404()
    {
        var device = await LinkedDeviceAsync("linking");
        Assert.Equal(200, (await RequestAsync("edge.acme.echo")).Code);

        await device.DisposeAsync();
        await Waits.UntilAsync(() => RequestAsync("edge.acme.echo"), m => m.Code == Codes.NotFound, "edge.acme.echo to be 404 once the device's link ended");
        await Waits.UntilAsync(() => RequestAsync(EdgeTopics.Control(device.Provider), """{"method":"GET","path":"/v1/ping"}"""), m => m.Code == Codes.NotFound, "the control topic to be 404");
    }

    [Fact]
    public async Task A_device_calls_and_signals_granted_cluster_topics_and_is_refused_others()
    {
        var prefix = $"lt{Guid.NewGuid():N}"[..12];
        await using var service = await Bus.ReplyToAsync($"{prefix}.echo", TopicRules.DefaultGroup, (request, _) =>
            ValueTask.FromResult(Message.Ok(JsonPayload.Parse($$"""{"got":{{request.Data}}}"""))));
        var signalled = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var slot = await Bus.SlotAsync($"{prefix}.sig", (signal, _) =>
        {
            signalled.TrySetResult(signal.Data.ToString());
            return ValueTask.CompletedTask;
        });

        var provider = Devices.NewProvider();
        var device = Track(new TestDevice(_host.Address, provider, await Devices.IssueTokenAsync(_gateway, provider, $"{prefix}.*")));
        var (status, body) = await device.LocalAsync("POST", $"/v1/call/{prefix}.echo", "1");
        Assert.Equal(503, status);
        Assert.Contains("no link to a cluster", body!.ToJsonString());

        device.Start();
        await device.WaitUpAsync("linking");
        (status, body) = await device.LocalAsync("POST", $"/v1/call/{prefix}.echo?timeout=10", """{"a":1}""");
        Assert.True(status == 200, $"a granted call answered {status}: {body?.ToJsonString()}");
        Assert.Equal("""{"got":{"a":1}}""", body!.ToJsonString());

        (status, body) = await device.LocalAsync("POST", "/v1/call/elsewhere.echo", "1");
        Assert.Equal(403, status);
        Assert.Contains("may not call elsewhere.echo", body!.ToJsonString());

        (status, _) = await device.LocalAsync("POST", $"/v1/call/{prefix}.nobody", "1");
        Assert.Equal(404, status);

        (status, body) = await device.LocalAsync("POST", $"/v1/signal/{prefix}.sig", """{"s":true}""");
        Assert.True(status == 200, $"a granted signal answered {status}: {body?.ToJsonString()}");
        Assert.Equal("""{"s":true}""", await signalled.Task.Within("the cluster slot to get the device's signal"));

        (status, _) = await device.LocalAsync("POST", $"/v1/call/{prefix}.echo?timeout=abc", "1");
        Assert.Equal(400, status);
    }

    [Fact]
    public async Task A_device_discovers_services_of_online_devices()
    {
        var device = await LinkedDeviceAsync("linking");

        var found = await device.Link.DiscoverAsync("ac*", "*", TestContext.Current.CancellationToken);
        var mine = Assert.Single(found, f => f.Provider == device.Provider);
        Assert.Equal(new FoundService("acme", "echo", device.Provider, Scope.Wan, EdgeTopics.Instance("acme", "echo", device.Provider)), mine);
        Assert.DoesNotContain(await device.Link.DiscoverAsync("nobody", "*", TestContext.Current.CancellationToken), f => f.Provider == device.Provider);
    }

    [Fact]
    public async Task A_control_command_runs_on_the_device_s_local_api_and_comes_back()
    {
        var device = await LinkedDeviceAsync("linking");

        var reply = await RequestAsync(EdgeTopics.Control(device.Provider), """{"method":"GET","path":"/v1/ping?n=7","priority":"high"}""");
        Assert.True(reply.Code == 200, $"the command answered {reply.Code}: {reply.Data}");
        Assert.Equal("""{"status":200,"body":{"pong":"7","fromCluster":true}}""", JsonNode.Parse(reply.Data.ToString())!.ToJsonString());
        lock (device.Scheduler.Posted)
        {
            Assert.Contains(Priority.High, device.Scheduler.Posted);
        }

        // Routes for programs on the device only are refused to the cluster.
        reply = await RequestAsync(EdgeTopics.Control(device.Provider), """{"method":"POST","path":"/v1/call/x.y","body":1}""");
        Assert.Equal(403, (int)JsonNode.Parse(reply.Data.ToString())!["status"]!);

        reply = await RequestAsync(EdgeTopics.Control(device.Provider), """{"path":"/v1/ping"}""");
        Assert.Equal(Codes.BadRequest, reply.Code);
        Assert.Contains("\\u0022method\\u0022", reply.Data.ToString());
    }

    [Fact]
    public async Task A_bad_token_or_no_token_is_unauthenticated()
    {
        var provider = Devices.NewProvider();
        await Devices.IssueTokenAsync(_gateway, provider);

        using var bad = Devices.RawLink(_channel, "not-the-token");
        await Devices.TrySendAsync(bad, Devices.Hello(provider));
        var e = await Devices.EndsWithAsync(bad, "a link with a bad token to end");
        Assert.Equal(StatusCode.Unauthenticated, e.StatusCode);
        Assert.Contains($"device {provider}'s current token", e.Status.Detail);

        using var none = Devices.RawLink(_channel, null);
        await Devices.TrySendAsync(none, Devices.Hello(provider));
        e = await Devices.EndsWithAsync(none, "a link without a token to end");
        Assert.Equal(StatusCode.Unauthenticated, e.StatusCode);
        Assert.Contains("authorization: Bearer", e.Status.Detail);

        // The agent keeps retrying (an admin may issue a new token) and stays down meanwhile.
        var device = Track(new TestDevice(_host.Address, provider, "not-the-token"));
        device.Start();
        await device.WaitStateAsync(LinkState.Down, "a refused agent");
        await Waits.UntilAsync(
            () => Task.FromResult(_gateway.Logs.Entries.Count(e => e.Message.Contains($"as device {provider} from") && e.Message.Contains("refused"))),
            n => n >= 4, $"the gateway to refuse device {provider}'s agent several times (the two raw links and two retries)");
        Assert.NotEqual(LinkState.Up, device.Link.State);
        var said = device.Logs.Entries.Where(e => e.Message.Contains("Unauthenticated")).ToArray();
        Assert.True(said.Length == 1, $"the agent should log the refusal once, not {said.Length} times: {string.Join(" | ", said.Select(e => e.Message))}");
    }

    [Fact]
    public async Task The_device_s_jobs_and_services_reach_its_grain()
    {
        var provider = Devices.NewProvider();
        var device = Track(new TestDevice(_host.Address, provider, await Devices.IssueTokenAsync(_gateway, provider)));
        device.Jobs.Add(new Trellis.Edge.Jobs.JobSnapshot("1", "first", "g", DateTimeOffset.UnixEpoch, "running", 0));
        device.Services.Publish(new LocalService("acme", "echo", new Uri(_program.Address, "/echo").ToString(), Scope.Wan));
        device.Start();
        await device.WaitUpAsync("linking");
        var grain = _gateway.Services.GetRequiredService<IGrainFactory>().GetGrain<IDeviceGrain>(provider);
        var record = await grain.Get();
        Assert.NotNull(record);
        Assert.True(record.Online);
        Assert.Equal("first", Assert.Single(record.Jobs).Name);
        Assert.Equal(new DeviceServiceName("acme", "echo"), Assert.Single(record.Services));

        device.Jobs.Add(new Trellis.Edge.Jobs.JobSnapshot("2", "second", "", null, "exited:0", 1));
        await Waits.UntilAsync(grain.Get, r => r!.Jobs.Length == 2, $"device {provider}'s grain to hear of its second job");

        await device.DisposeAsync();
        await Waits.UntilAsync(grain.Get, r => !r!.Online, $"device {provider} to be offline once its link ended");
    }

    [Fact]
    public async Task A_request_waiting_on_a_link_that_ends_gets_503()
    {
        var provider = Devices.NewProvider();
        var token = await Devices.IssueTokenAsync(_gateway, provider);
        var call = Devices.RawLink(_channel, token);
        await call.RequestStream.WriteAsync(Devices.Hello(provider, ("acme", "gone")), TestContext.Current.CancellationToken);
        Assert.True(await call.ResponseStream.MoveNext(TestContext.Current.CancellationToken));

        var pending = RequestAsync("edge.acme.gone", "1");
        Assert.True(await call.ResponseStream.MoveNext(TestContext.Current.CancellationToken).Within("the request down the raw link"));
        call.Dispose();
        var reply = await pending.Within("the reply once the link ended");
        Assert.Equal(Codes.Unavailable, reply.Code);
        Assert.Contains("link ended before it replied", reply.Data.ToString());
    }

    [Fact]
    public async Task The_agent_hears_of_builds_from_the_welcome_and_later()
    {
        var builds = new TestBuilds();
        builds.Add(new BuildInfo { Arch = System.Runtime.InteropServices.RuntimeInformation.RuntimeIdentifier, Version = "9.0.0", Path = "/edge/builds/x/binary" });
        await using var host = await LinkHost.StartAsync(_gateway, builds: builds);
        var provider = Devices.NewProvider();
        var device = Track(new TestDevice(host.Address, provider, await Devices.IssueTokenAsync(_gateway, provider)));
        var heard = new System.Collections.Concurrent.ConcurrentQueue<string>();
        device.Link.BuildAvailable += b => heard.Enqueue(b.Version);
        device.Start();
        await device.WaitUpAsync("linking");
        await Waits.UntilAsync(() => Task.FromResult(heard.ToArray()), v => v.Contains("9.0.0"), "the build of the welcome");

        builds.Add(new BuildInfo { Arch = System.Runtime.InteropServices.RuntimeInformation.RuntimeIdentifier, Version = "9.0.1" });
        builds.Add(new BuildInfo { Arch = "some-other-arch", Version = "7.7.7" });
        await Waits.UntilAsync(() => Task.FromResult(heard.ToArray()), v => v.Contains("9.0.1"), "the build announced later");
        Assert.DoesNotContain("7.7.7", heard);
        await device.DisposeAsync();
    }

    [Fact]
    public async Task A_device_acts_only_as_itself()
    {
        var a = Devices.NewProvider();
        var b = Devices.NewProvider();
        var tokenA = await Devices.IssueTokenAsync(_gateway, a, "*");
        await Devices.IssueTokenAsync(_gateway, b);

        using var call = Devices.RawLink(_channel, tokenA);
        await Devices.TrySendAsync(call, Devices.Hello(b, ("acme", "echo")));
        var e = await Devices.EndsWithAsync(call, "a link as device B with device A's token to end");
        Assert.Equal(StatusCode.Unauthenticated, e.StatusCode);
        Assert.Equal(Codes.NotFound, (await RequestAsync(EdgeTopics.Instance("acme", "echo", b))).Code);
    }

    [Fact]
    public async Task Bad_first_messages_and_bad_providers_are_invalid_arguments()
    {
        var provider = Devices.NewProvider();
        var token = await Devices.IssueTokenAsync(_gateway, provider);

        using var heartbeat = Devices.RawLink(_channel, token);
        await Devices.TrySendAsync(heartbeat, new DeviceMessage { Heartbeat = new Heartbeat() });
        var e = await Devices.EndsWithAsync(heartbeat, "a link that starts with a heartbeat to end");
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("must be hello, not heartbeat", e.Status.Detail);

        using var badProvider = Devices.RawLink(_channel, token);
        await Devices.TrySendAsync(badProvider, Devices.Hello("a.b*"));
        e = await Devices.EndsWithAsync(badProvider, "a link with a bad provider to end");
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("hello.provider", e.Status.Detail);

        using var empty = Devices.RawLink(_channel, token);
        await empty.RequestStream.WriteAsync(Devices.Hello(provider), TestContext.Current.CancellationToken);
        Assert.True(await empty.ResponseStream.MoveNext(TestContext.Current.CancellationToken));
        await Devices.TrySendAsync(empty, new DeviceMessage());
        e = await Devices.EndsWithAsync(empty, "a link that sent an empty message to end");
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("no kind set", e.Status.Detail);
    }

    [Fact]
    public async Task Bad_service_names_are_refused_alone_and_unknown_replies_are_ignored()
    {
        var provider = Devices.NewProvider();
        var token = await Devices.IssueTokenAsync(_gateway, provider);
        using var call = Devices.RawLink(_channel, token);
        await call.RequestStream.WriteAsync(Devices.Hello(provider, ("acme", "raw"), ("bad_name", "x"), ("acme", "has space")), TestContext.Current.CancellationToken);
        Assert.True(await call.ResponseStream.MoveNext(TestContext.Current.CancellationToken));
        var welcome = call.ResponseStream.Current.Welcome;
        Assert.Equal(provider, welcome.Provider);
        Assert.Equal(15, welcome.HeartbeatInterval);
        Assert.Equal(4 * 1024 * 1024, welcome.MaxMessageBytes);

        var pending = RequestAsync("edge.acme.raw", "42");
        Assert.True(await call.ResponseStream.MoveNext(TestContext.Current.CancellationToken).Within("the request down the raw link"));
        var request = call.ResponseStream.Current.Request;
        Assert.Equal(("acme", "raw", "edge.acme.raw"), (request.Publisher, request.Service, request.Topic));
        await call.RequestStream.WriteAsync(new DeviceMessage { Reply = new EdgeReply { CorrelationId = "no-such-id", Code = 200 } }, TestContext.Current.CancellationToken);
        await call.RequestStream.WriteAsync(new DeviceMessage { Reply = new EdgeReply { CorrelationId = request.CorrelationId, Code = 201, Data = Google.Protobuf.WellKnownTypes.Value.ForNumber(43) } }, TestContext.Current.CancellationToken);
        var reply = await pending.Within("the reply from the raw link");
        Assert.Equal((200, "43"), (reply.Code, reply.Data.ToString()));

        Assert.Equal(Codes.NotFound, (await RequestAsync("edge.bad_name.x")).Code);
        Assert.Contains(_gateway.Logs.Entries, e => e.Message.Contains("bad_name/x was refused") && e.Message.Contains("'_'"));

        // A ServiceSet replaces the set: acme/raw goes, acme/other comes.
        var set = new ServiceSet();
        set.Services.Add(new ServiceName { Publisher = "acme", Service = "other" });
        await call.RequestStream.WriteAsync(new DeviceMessage { Services = set }, TestContext.Current.CancellationToken);
        await Waits.UntilAsync(() => RequestAsync("edge.acme.raw", timeout: TimeSpan.FromSeconds(1)), m => m.Code == Codes.NotFound, "edge.acme.raw to be 404 after the new service set");
        await call.RequestStream.WriteAsync(new DeviceMessage { Heartbeat = new Heartbeat() }, TestContext.Current.CancellationToken);
        await call.RequestStream.CompleteAsync();
    }

    [Fact]
    public async Task Revoking_the_token_closes_the_link_and_the_agent_stays_out()
    {
        var device = await LinkedDeviceAsync("linking");
        var grain = _gateway.Services.GetRequiredService<IGrainFactory>().GetGrain<IDeviceGrain>(device.Provider);

        var provider = Devices.NewProvider();
        var token = await Devices.IssueTokenAsync(_gateway, provider);
        using var raw = Devices.RawLink(_channel, token);
        await raw.RequestStream.WriteAsync(Devices.Hello(provider), TestContext.Current.CancellationToken);
        Assert.True(await raw.ResponseStream.MoveNext(TestContext.Current.CancellationToken));

        // What the admin API's RevokeToken does: the grain forgets the token, the gateway holding the link hears of it.
        Assert.True(await _gateway.Services.GetRequiredService<IGrainFactory>().GetGrain<IDeviceGrain>(provider).RevokeToken());
        await Bus.SignalAsync(EdgeTopics.Revoked(provider), JsonPayload.Null, TestContext.Current.CancellationToken);
        var e = await Devices.EndsWithAsync(raw, "the revoked device's link to end");
        Assert.Equal(StatusCode.PermissionDenied, e.StatusCode);
        Assert.Equal("the device's token was revoked", e.Status.Detail);

        Assert.True(await grain.RevokeToken());
        await Bus.SignalAsync(EdgeTopics.Revoked(device.Provider), JsonPayload.Null, TestContext.Current.CancellationToken);
        await device.WaitStateAsync(LinkState.Down, "after the revocation");
        await Waits.UntilAsync(() => RequestAsync("edge.acme.echo"), m => m.Code == Codes.NotFound, "edge.acme.echo to be 404 after the revocation");
        Assert.NotEqual(LinkState.Up, device.Link.State);
    }

    [Fact]
    public async Task A_silent_link_is_closed_after_three_heartbeat_intervals_and_its_topics_go()
    {
        await using var host = await LinkHost.StartAsync(_gateway, new EdgeLinkOptions { HeartbeatInterval = TimeSpan.FromMilliseconds(200) });
        using var channel = GrpcChannel.ForAddress(host.Address);
        var provider = Devices.NewProvider();
        using var call = Devices.RawLink(channel, await Devices.IssueTokenAsync(_gateway, provider));
        await call.RequestStream.WriteAsync(Devices.Hello(provider, ("acme", "silent")), TestContext.Current.CancellationToken);
        Assert.True(await call.ResponseStream.MoveNext(TestContext.Current.CancellationToken));
        Assert.Equal(0.2, call.ResponseStream.Current.Welcome.HeartbeatInterval);

        var e = await Devices.EndsWithAsync(call, "a link that sends no heartbeats to be closed");
        Assert.Equal(StatusCode.Unavailable, e.StatusCode);
        Assert.Contains("sent nothing for 0.6 s", e.Status.Detail);
        await Waits.UntilAsync(() => RequestAsync(EdgeTopics.Instance("acme", "silent", provider)), m => m.Code == Codes.NotFound, "the silent device's topic to be 404");
    }

    [Fact]
    public async Task A_second_link_of_a_device_replaces_the_first()
    {
        var provider = Devices.NewProvider();
        var token = await Devices.IssueTokenAsync(_gateway, provider);
        using var first = Devices.RawLink(_channel, token);
        await first.RequestStream.WriteAsync(Devices.Hello(provider, ("acme", "twice")), TestContext.Current.CancellationToken);
        Assert.True(await first.ResponseStream.MoveNext(TestContext.Current.CancellationToken));

        using var second = Devices.RawLink(_channel, token);
        await second.RequestStream.WriteAsync(Devices.Hello(provider, ("acme", "twice")), TestContext.Current.CancellationToken);
        Assert.True(await second.ResponseStream.MoveNext(TestContext.Current.CancellationToken));
        var e = await Devices.EndsWithAsync(first, "the first link to be replaced");
        Assert.Equal(StatusCode.Aborted, e.StatusCode);
        Assert.Contains("a newer link", e.Status.Detail);

        var pending = RequestAsync(EdgeTopics.Instance("acme", "twice", provider), "1");
        Assert.True(await second.ResponseStream.MoveNext(TestContext.Current.CancellationToken).Within("the request down the second link"));
        var request = second.ResponseStream.Current.Request;
        await second.RequestStream.WriteAsync(new DeviceMessage { Reply = new EdgeReply { CorrelationId = request.CorrelationId, Data = Google.Protobuf.WellKnownTypes.Value.ForString("second") } }, TestContext.Current.CancellationToken);
        Assert.Equal("\"second\"", (await pending.Within("the reply of the second link")).Data.ToString());
    }

    [Fact]
    public async Task An_oversize_message_ends_the_link_naming_the_limit_and_the_gateway_goes_on()
    {
        await using var host = await LinkHost.StartAsync(_gateway, new EdgeLinkOptions { MaxMessageBytes = 64 * 1024 });
        using var channel = GrpcChannel.ForAddress(host.Address);
        var provider = Devices.NewProvider();
        var token = await Devices.IssueTokenAsync(_gateway, provider, "*");
        using var call = Devices.RawLink(channel, token);
        await call.RequestStream.WriteAsync(Devices.Hello(provider), TestContext.Current.CancellationToken);
        Assert.True(await call.ResponseStream.MoveNext(TestContext.Current.CancellationToken));
        Assert.Equal(64 * 1024, call.ResponseStream.Current.Welcome.MaxMessageBytes);

        var big = new ClusterCall { CorrelationId = "1", Topic = "x.y", Data = Google.Protobuf.WellKnownTypes.Value.ForString(new string('x', 100 * 1024)) };
        await Devices.TrySendAsync(call, new DeviceMessage { Call = big });
        var e = await Devices.EndsWithAsync(call, "the link with an oversize message to end");
        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
        Assert.Contains("65536 bytes (Trellis:Edge:MaxMessageBytes)", e.Status.Detail);

        using var again = Devices.RawLink(channel, token);
        await again.RequestStream.WriteAsync(Devices.Hello(provider), TestContext.Current.CancellationToken);
        Assert.True(await again.ResponseStream.MoveNext(TestContext.Current.CancellationToken));
        Assert.Equal(LinkMessage.KindOneofCase.Welcome, again.ResponseStream.Current.KindCase);
    }
}
