using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Trellis.Api.Tests.Flows.Fbp;
using Trellis.Api.Tests.Infrastructure;
using Trellis.Cli;
using Trellis.Contracts.V1;
using Trellis.Flows.Broker;
using Trellis.TestKit;
using static Trellis.Api.Tests.Flows.FlowsTesting;

namespace Trellis.Api.Tests.Flows;

/// <summary>A graph naming a port its discovered participant does not have is refused over HTTP, gRPC and
/// <c>trellis flow setup</c>, naming the node and the port, and the graph stays as it was; ports of pending nodes are
/// not checked.</summary>
public sealed class FlowPortTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;
    private TestParticipant _repeat = null!;
    private TestParticipant _drop = null!;
    private readonly string _id = Guid.NewGuid().ToString("N")[..10];

    private string Repeat => $"repeat{_id}";

    private string Drop => $"drop{_id}";

    public async ValueTask InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync();
        var broker = _gateway.Services.GetRequiredService<IFlowBroker>();
        _repeat = await TestParticipant.StartAsync(broker, Repeat, $"lib{_id}/Repeat", repeat: true, CancellationToken.None);
        _drop = await TestParticipant.StartAsync(broker, Drop, $"lib{_id}/Drop", repeat: false, CancellationToken.None);
        await WaitForParticipantsAsync(_gateway, Repeat, Drop);
    }

    public async ValueTask DisposeAsync()
    {
        await _repeat.DisposeAsync();
        await _drop.DisposeAsync();
        await _gateway.DisposeAsync();
    }

    [Fact]
    public async Task Put_refuses_a_graph_with_an_unknown_or_portless_end_and_keeps_the_old_graph()
    {
        var name = $"tests/{Unique("ports")}";
        var good = $"{Repeat}(lib{_id}/Repeat) OUT -> IN {Drop}(lib{_id}/Drop)\n";
        var set = await _gateway.SendAsync(HttpMethod.Put, $"/flows/graphs/{name}", good, Admin, "text/x-fbp");
        Assert.True(set.Status == 200, set.ToString());
        Assert.Equal([$"PUBSUB: \t {Repeat}.OUT -> {Drop}.IN"], set.Json["lines"]!.AsArray().Select(static l => (string)l!));

        var bad = $"{Repeat}(lib{_id}/Repeat) OUT -> DATA {Drop}(lib{_id}/Drop)\n'5' -> TIMES {Repeat}\n";
        var refused = await _gateway.SendAsync(HttpMethod.Put, $"/flows/graphs/{name}", bad, Admin, "text/x-fbp");
        Assert.True(refused.Status == 400, refused.ToString());
        Assert.Contains($"edge {Repeat}.out -> {Drop}.data: participant", refused.ErrorMessage);
        Assert.Contains($"(role '{Drop}') has no inport 'data' (its inports are in)", refused.ErrorMessage);
        Assert.Contains($"initial packet to {Repeat}.times", refused.ErrorMessage);

        var exported = $"INPORT={Repeat}.GO:START\n{Repeat}(lib{_id}/Repeat) OUT -> IN {Drop}(lib{_id}/Drop)\n";
        var refusedExport = await _gateway.SendAsync(HttpMethod.Put, $"/flows/graphs/{name}", exported, Admin, "text/x-fbp");
        Assert.Equal(400, refusedExport.Status);
        Assert.Contains($"exported inport 'start': participant", refusedExport.ErrorMessage);
        Assert.Contains("has no inport 'go'", refusedExport.ErrorMessage);

        var kept = await _gateway.GetAsync($"/flows/graphs/{name}", Admin);
        Assert.Equal("in", (string?)Assert.Single(kept.Json["connections"]!.AsArray())!["tgt"]!["port"]);
        var setup = await _gateway.GetAsync($"/flows/setups/{name}", Admin);
        Assert.Single(setup.Json["bindings"]!.AsArray());

        // A node whose participant has not appeared is pending; its ports are not known yet.
        var later = Unique("later");
        var pending = await _gateway.SendAsync(HttpMethod.Put, $"/flows/graphs/{name}", $"{Repeat}(lib{_id}/Repeat) OUT -> ANYTHING {later}(lib{_id}/Later)\n", Admin, "text/x-fbp");
        Assert.True(pending.Status == 200, pending.ToString());
        Assert.Equal([later], pending.Json["pending"]!.AsArray().Select(static n => (string)n!));
        Assert.Empty(pending.Json["problems"]!.AsArray());
        Assert.Empty(_gateway.Logs.Errors);
    }

    [Fact]
    public async Task Grpc_set_graph_and_flow_setup_refuse_it_too()
    {
        var name = $"tests/{Unique("ports")}";
        var client = new Contracts.V1.Flows.FlowsClient(_gateway.Grpc);
        var json = Struct.Parser.ParseJson(Graph([(Repeat, $"lib{_id}/Repeat"), (Drop, $"lib{_id}/Drop")], (Drop, "out", Repeat, "in")));
        var e = await Assert.ThrowsAsync<RpcException>(() => client.SetGraphAsync(new SetGraphRequest { Name = name, Graph = json }, GrpcApi.As(Admin)).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains($"(role '{Drop}') has no outport 'out' (it has no outports)", e.Status.Detail);

        using var folder = new TempFolder();
        var file = Path.Combine(folder.Path, "graph.fbp");
        await File.WriteAllTextAsync(file, $"{Repeat}(lib{_id}/Repeat) OUTPUT -> IN {Drop}(lib{_id}/Drop)\n", TestContext.Current.CancellationToken);
        var output = new StringWriter();
        var error = new StringWriter();
        var exit = await CliApp.RunAsync(["flow", "setup", file, "--graph", name, "--url", _gateway.Address.ToString(), "--token", Admin], output, error, TestContext.Current.CancellationToken);
        Assert.True(exit == CliApp.Failed, $"exit {exit}; stdout: {output}; stderr: {error}");
        Assert.Contains("400", error.ToString(), StringComparison.Ordinal);
        Assert.Contains($"(role '{Repeat}') has no outport 'output' (its outports are out)", error.ToString(), StringComparison.Ordinal);
        Assert.Equal("", output.ToString());
        Assert.Empty((await client.GetGraphAsync(new GraphRef { Name = name }, GrpcApi.As(Admin))).Graph_.Fields["processes"].StructValue.Fields);
    }
}
