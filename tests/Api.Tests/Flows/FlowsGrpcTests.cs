using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Trellis.Api.Tests.Infrastructure;
using Trellis.Contracts.V1;
using static Trellis.Api.Tests.Flows.FlowsTesting;

namespace Trellis.Api.Tests.Flows;

/// <summary>trellis.v1.Flows over gRPC (h2c) and its JSON transcoding under /v1/flows.</summary>
public sealed class FlowsGrpcTests
{
    private static CallOptions As(string? token = Admin) => GrpcApi.As(token);

    [Fact]
    public async Task Graphs_are_set_read_listed_and_cleared()
    {
        await using var gateway = await TestGateway.StartAsync();
        var client = new Contracts.V1.Flows.FlowsClient(gateway.Grpc);
        var name = $"grpc/{Unique("g")}";
        var a = Unique("a");
        var b = Unique("b");
        var graph = Struct.Parser.ParseJson(Graph([(a, "A"), (b, "B")], (a, "out", b, "in")));

        var setup = await client.SetGraphAsync(new SetGraphRequest { Name = name, Graph = graph }, As());
        Assert.Equal([a, b], setup.Pending.Order());
        var read = await client.GetGraphAsync(new GraphRef { Name = name }, As());
        Assert.Equal(name, read.Name);
        Assert.Equal("A", read.Graph_.Fields["processes"].StructValue.Fields[a].StructValue.Fields["component"].StringValue);
        Assert.Contains(name, (await client.ListGraphsAsync(new ListGraphsRequest(), As())).Names);
        Assert.Equal(2, (await client.GetSetupAsync(new GraphRef { Name = name }, As())).Pending.Count);

        var fbp = await client.SetGraphAsync(new SetGraphRequest { Name = name, Fbp = $"{a}(A) OUT -> IN {b}(B)" }, As());
        Assert.Equal(2, fbp.Pending.Count);

        var cleared = await client.ClearGraphAsync(new GraphRef { Name = name }, As());
        Assert.Empty(cleared.Pending);
        Assert.Empty((await client.GetGraphAsync(new GraphRef { Name = name }, As())).Graph_.Fields["processes"].StructValue.Fields);
    }

    [Fact]
    public async Task Participants_messages_and_dumps()
    {
        await using var gateway = await TestGateway.StartAsync();
        await using var node = await PythonNode.StartAsync("grpc-worker");
        var client = new Contracts.V1.Flows.FlowsClient(gateway.Grpc);
        var role = Unique("w");
        await gateway.RegisterAsync(new { port = node.Port, role, outports = new object[] { new { id = "out" } } });
        await WaitForParticipantsAsync(gateway, role);
        var participant = (await client.ListParticipantsAsync(new ListParticipantsRequest(), As())).Participants.Single(p => p.Role == role);
        Assert.Equal("online", participant.Status);
        Assert.Equal($"{role}.OUT", participant.Outports.Single().Queue);

        var queue = await DeclareQueueAsync(gateway, Unique("q"));
        await client.SendMessageAsync(new SendMessageRequest { Queue = queue, Data = GrpcApi.Json("{\"n\":1}") }, As());
        await client.SendMessageAsync(new SendMessageRequest { Queue = queue, Data = Value.ForString("two") }, As());
        using (var dump = client.DumpMessages(new DumpMessagesRequest { Queue = queue, Amount = 2, Timeout = 10 }, As()))
        {
            var got = await dump.ResponseStream.ReadAllAsync(TestContext.Current.CancellationToken).ToListAsync(TestContext.Current.CancellationToken);
            Assert.Equal(1, got[0].Data.StructValue.Fields["n"].NumberValue);
            Assert.Equal("two", got[1].Data.StringValue);
        }

        using (var late = client.DumpMessages(new DumpMessagesRequest { Queue = queue, Amount = 1, Timeout = 0.2 }, As()))
        {
            var error = await Assert.ThrowsAsync<RpcException>(() => late.ResponseStream.ReadAllAsync(TestContext.Current.CancellationToken).ToListAsync(TestContext.Current.CancellationToken).AsTask());
            Assert.Equal(StatusCode.DeadlineExceeded, error.StatusCode);
            Assert.Contains("got 0 of 1", error.Status.Detail, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Errors_use_the_shared_table()
    {
        await using var gateway = await TestGateway.StartAsync();
        var client = new Contracts.V1.Flows.FlowsClient(gateway.Grpc);
        await GrpcApi.FailsAsync(client.SendMessageAsync(new SendMessageRequest { Queue = "missing.IN", Data = Value.ForNumber(1) }, As()).ResponseAsync, StatusCode.NotFound, "missing.IN");
        await GrpcApi.FailsAsync(client.GetGraphAsync(new GraphRef { Name = "" }, As()).ResponseAsync, StatusCode.InvalidArgument, "graph name");
        await GrpcApi.FailsAsync(client.SetGraphAsync(new SetGraphRequest { Name = "g" }, As()).ResponseAsync, StatusCode.InvalidArgument, "fbp");
        await GrpcApi.FailsAsync(client.SetGraphAsync(new SetGraphRequest { Name = "g", Fbp = "a(A) OUT ->" }, As()).ResponseAsync, StatusCode.InvalidArgument, "line");
        await GrpcApi.FailsAsync(client.ListGraphsAsync(new ListGraphsRequest(), As(token: null)).ResponseAsync, StatusCode.Unauthenticated, "Bearer");
        await GrpcApi.FailsAsync(client.ListGraphsAsync(new ListGraphsRequest(), As(token: "wrong")).ResponseAsync, StatusCode.PermissionDenied, "admin token");
        using var dump = client.DumpMessages(new DumpMessagesRequest { Queue = "q.IN", Amount = -1 }, As());
        var error = await Assert.ThrowsAsync<RpcException>(() => dump.ResponseStream.MoveNext(TestContext.Current.CancellationToken));
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
    }

    [Fact]
    public async Task Transcoded_routes_answer_json()
    {
        await using var gateway = await TestGateway.StartAsync();
        var name = $"rest/{Unique("g")}";
        var a = Unique("a");
        var set = await gateway.SendAsync(HttpMethod.Put, $"/v1/flows/graphs/{name}", $"{{\"fbp\": \"{a}(A) OUT -> IN {a}x(B)\"}}", Admin);
        Assert.True(set.Status == 200, set.Body);
        Assert.Equal(2, set.Json["pending"]!.AsArray().Count);
        var read = await gateway.GetAsync($"/v1/flows/graphs/{name}", Admin);
        Assert.True(read.Status == 200, read.Body);
        Assert.Equal(name, (string?)read.Json["name"]);
        Assert.Equal("A", (string?)read.Json["graph"]!["processes"]![a]!["component"]);

        var queue = await DeclareQueueAsync(gateway, Unique("t"));
        var sent = await gateway.SendAsync(HttpMethod.Post, $"/v1/flows/queues/{queue}/messages", "{\"hello\": \"world\"}", Admin);
        Assert.True(sent.Status == 200, sent.Body);
        var missing = await gateway.SendAsync(HttpMethod.Post, "/v1/flows/queues/none.IN/messages", "1", Admin);
        Assert.Equal(404, missing.Status);
        var participants = await gateway.GetAsync("/v1/flows/participants", Admin);
        Assert.Equal(200, participants.Status);
    }
}
