using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Trellis.Api.Tests.Infrastructure;
using Trellis.Flows.Broker;
using Trellis.Flows.Networks;
using Trellis.TestKit;

namespace Trellis.Api.Tests.Flows.Fbp;

/// <summary>A flow driven end to end over /fbp: participants announce themselves on <c>fbp</c>, the graph is built with
/// graph commands, a packet sent to the exported inport comes back from the exported outport, and a watched edge
/// reports the data crossing it.</summary>
public sealed class FbpFlowTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;

    public async ValueTask InitializeAsync() => _gateway = await TestGateway.StartAsync();

    public async ValueTask DisposeAsync() => await _gateway.DisposeAsync();

    private static JsonObject Port(string node, string port) => new() { ["node"] = node, ["port"] = port };

    [Fact]
    public async Task A_packet_to_an_exported_inport_comes_back_from_the_exported_outport()
    {
        var ct = TestContext.Current.CancellationToken;
        var id = Guid.NewGuid().ToString("N")[..10];
        var graph = $"fbp-flow-{id}";
        var (first, second) = ($"first{id}", $"second{id}");
        var broker = _gateway.Services.GetRequiredService<IFlowBroker>();
        await using var p1 = await TestParticipant.StartAsync(broker, first, $"lib{id}/Repeat", repeat: true, ct);
        await using var p2 = await TestParticipant.StartAsync(broker, second, $"lib{id}/Repeat", repeat: true, ct);
        await using var client = await FbpClient.ConnectAsync(_gateway);

        await client.RequestAsync("graph", "clear", new JsonObject { ["id"] = graph });
        await client.RequestAsync("graph", "addnode", new JsonObject { ["id"] = first, ["component"] = $"lib{id}/Repeat", ["graph"] = graph });
        await client.RequestAsync("graph", "addnode", new JsonObject { ["id"] = second, ["component"] = $"lib{id}/Repeat", ["graph"] = graph });
        await client.RequestAsync("graph", "addedge", new JsonObject { ["src"] = Port(first, "out"), ["tgt"] = Port(second, "in"), ["graph"] = graph });
        await client.RequestAsync("graph", "addinport", new JsonObject { ["public"] = "in", ["node"] = first, ["port"] = "in", ["graph"] = graph });
        await client.RequestAsync("graph", "addoutport", new JsonObject { ["public"] = "out", ["node"] = second, ["port"] = "out", ["graph"] = graph });

        var networks = _gateway.Services.GetRequiredService<IFlowNetworks>();
        await Waits.UntilAsync(() => networks.GetSetupAsync(graph, ct), s => s.Pending.Count == 0 && s.Bindings.Count > 0,
            $"graph {graph} wired: both participants discovered on fbp, no node pending");

        await client.RequestAsync("network", "start", new JsonObject { ["graph"] = graph }, "started");
        var edges = await client.RequestAsync("network", "edges", new JsonObject { ["graph"] = graph, ["edges"] = new JsonArray(new JsonObject { ["src"] = Port(first, "out"), ["tgt"] = Port(second, "in") }) });
        Assert.Equal(graph, (string?)edges["graph"]);

        var sent = await client.RequestAsync("runtime", "packet", new JsonObject { ["port"] = "in", ["event"] = "data", ["payload"] = new JsonObject { ["n"] = 1 }, ["graph"] = graph }, "packetsent");
        Assert.Equal($$$"""{"port":"in","event":"data","graph":"{{{graph}}}","payload":{"n":1}}""", sent.ToJsonString());

        // Pushed events, in whichever order they arrive.
        JsonObject? data = null, packet = null;
        while (data is null || packet is null)
        {
            var message = await client.ReceiveAsync($"network:data on {first}.out -> {second}.in and runtime:packet on outport 'out' (have data: {data is not null}, packet: {packet is not null})");
            switch ((string?)message["protocol"], (string?)message["command"])
            {
                case ("network", "data"):
                    data = (JsonObject)message["payload"]!;
                    break;
                case ("runtime", "packet"):
                    packet = (JsonObject)message["payload"]!;
                    break;
                default:
                    Assert.Fail($"unexpected message {message.ToJsonString()}");
                    break;
            }
        }

        Assert.Equal($$$"""{"id":"{{{first}}}() OUT -> IN {{{second}}}()","graph":"{{{graph}}}","src":{"node":"{{{first}}}","port":"out"},"tgt":{"node":"{{{second}}}","port":"in"},"data":{"n":1}}""", data.ToJsonString(Trellis.Api.Flows.Fbp.Internal.FbpMessage.Json));
        Assert.Equal($$$"""{"port":"out","event":"data","graph":"{{{graph}}}","payload":{"n":1}}""", packet.ToJsonString());

        // Brackets have no queue counterpart: acknowledged, nothing sent.
        await client.RequestAsync("runtime", "packet", new JsonObject { ["port"] = "in", ["event"] = "connect", ["graph"] = graph }, "packetsent");
        Assert.Contains("no exported inport 'nope'", await client.ErrorAsync("runtime", "packet", new JsonObject { ["port"] = "nope", ["event"] = "data", ["payload"] = 1, ["graph"] = graph }));
        Assert.Contains("payload.event must be one of", await client.ErrorAsync("runtime", "packet", new JsonObject { ["port"] = "in", ["event"] = "shout", ["graph"] = graph }));
        Assert.Empty(_gateway.Logs.Errors);
    }

    [Fact]
    public async Task Closing_the_socket_ends_its_watches()
    {
        var ct = TestContext.Current.CancellationToken;
        var id = Guid.NewGuid().ToString("N")[..10];
        var graph = $"fbp-close-{id}";
        var role = $"solo{id}";
        var broker = _gateway.Services.GetRequiredService<IFlowBroker>();
        await using var participant = await TestParticipant.StartAsync(broker, role, $"lib{id}/Repeat", repeat: true, ct);
        await using (var client = await FbpClient.ConnectAsync(_gateway))
        {
            await client.RequestAsync("graph", "clear", new JsonObject { ["id"] = graph });
            await client.RequestAsync("graph", "addnode", new JsonObject { ["id"] = role, ["component"] = $"lib{id}/Repeat", ["graph"] = graph });
            await client.RequestAsync("graph", "addoutport", new JsonObject { ["public"] = "out", ["node"] = role, ["port"] = "out", ["graph"] = graph });
            await client.RequestAsync("graph", "addinport", new JsonObject { ["public"] = "in", ["node"] = role, ["port"] = "in", ["graph"] = graph });
            var networks = _gateway.Services.GetRequiredService<IFlowNetworks>();
            await Waits.UntilAsync(() => networks.GetSetupAsync(graph, ct), s => s.Pending.Count == 0, $"graph {graph} wired");
            await client.RequestAsync("runtime", "packet", new JsonObject { ["port"] = "in", ["event"] = "data", ["payload"] = "ping", ["graph"] = graph }, "packetsent");
            await client.ExpectAsync("runtime", "packet");
        }

        // The session's tap on role.OUT goes with the socket: publishing after the close reaches no one and logs nothing.
        await Waits.UntilAsync(() => Task.FromResult(_gateway.Logs.Entries.Any(e => e.Message.Contains("FBP client from") && e.Message.Contains("disconnected"))), d => d,
            "the FBP session to end after the client closed");
        await broker.PublishAsync($"{role}.OUT", "\"after\""u8.ToArray(), null, ct);
        Assert.Empty(_gateway.Logs.Errors);
    }
}
