using Trellis.Api.Tests.Infrastructure;
using Trellis.Contracts.V1;
using static Trellis.Api.Tests.Flows.FlowsTesting;

namespace Trellis.Api.Tests.Flows;

/// <summary>gRPC nodes as participants: ports declared in RegisterNode and on a Connect stream, SendOutport, and inport
/// messages delivered to a stream node as signals.</summary>
public sealed class GrpcNodeFlowTests
{
    [Fact]
    public async Task A_grpc_source_feeds_a_stream_node_sink_through_a_graph()
    {
        await using var gateway = await TestGateway.StartAsync();
        await using var http = await PythonNode.StartAsync("grpc-source");
        var a = Unique("a");
        var b = Unique("b");
        var nodes = new Nodes.NodesClient(gateway.Grpc);
        var register = new RegisterNodeRequest { Port = http.Port, Role = a, Component = "tests/Source" };
        register.Outports.Add(new NodePort { Id = "out", Type = "object" });
        var source = await nodes.RegisterNodeAsync(register, GrpcApi.As(null));

        var sinkRegistration = new RegisterNodeRequest { Role = b };
        sinkRegistration.Inports.Add(new NodePort { Id = "in" });
        await using var sink = await StreamNode.RegisterAsync(gateway.Grpc, "sink", sinkRegistration);

        var participants = await WaitForParticipantsAsync(gateway, a, b);
        Assert.Equal("tests/Source", (string?)participants.Single(p => (string?)p!["role"] == a)!["component"]);
        var setup = await gateway.SendAsync(HttpMethod.Put, $"/flows/graphs/{Unique("g")}", Graph([(a, "A"), (b, "B")], (a, "out", b, "in")), Admin);
        Assert.True(setup.Status == 200, setup.Body);
        Assert.Empty(setup.Json["pending"]!.AsArray());

        await nodes.SendOutportAsync(new OutportMessage { Id = source.Id, Port = "OUT", Data = GrpcApi.Json("{\"n\": 5}") }, GrpcApi.As(source.Token));
        var delivered = await sink.NextAsync("the sink's inport message");
        Assert.Equal(GatewayMessage.KindOneofCase.Signal, delivered.KindCase);
        Assert.Equal($"{b}.IN", delivered.Signal.Topic);
        Assert.Equal(5, delivered.Signal.Data.StructValue.Fields["n"].NumberValue);

        await GrpcApi.FailsAsync(nodes.SendOutportAsync(new OutportMessage { Id = source.Id, Port = "nope", Data = GrpcApi.Json("1") }, GrpcApi.As(source.Token)).ResponseAsync,
            global::Grpc.Core.StatusCode.NotFound, "no outport");
        var bad = new RegisterNodeRequest { Port = http.Port };
        bad.Inports.Add(new NodePort { Id = "" });
        await GrpcApi.FailsAsync(nodes.RegisterNodeAsync(bad, GrpcApi.As(null)).ResponseAsync, global::Grpc.Core.StatusCode.InvalidArgument, "inports[0].id");
    }
}
