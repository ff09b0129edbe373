using System.Text;
using System.Text.Json.Nodes;
using Trellis.Api.Tests.Flows.Fbp;
using Trellis.Api.Tests.Infrastructure;
using Trellis.TestKit;
using Xunit;

namespace Trellis.Api.Tests.Flows;

/// <summary>Bad input with stock msgflo-nodejs participants on RabbitMQ around: a broken announcement on <c>fbp</c> is
/// logged and dropped and real participants are still discovered; a <c>graph:addedge</c> without a payload over
/// <c>/fbp</c> (which crashes msgflo's own runtime) gets an error and the session goes on. Each test has a virtual
/// host of its own.</summary>
public sealed class MsgFloBadInputTests : IAsyncLifetime
{
    private const string Dropped = "Dropped a bad message from fbp";
    private MsgFloCluster _cluster = null!;

    public async ValueTask InitializeAsync() => _cluster = await MsgFloCluster.StartAsync("badinput");

    public async ValueTask DisposeAsync() => await _cluster.DisposeAsync();

    private static JsonObject Port(string node, string port) => new() { ["node"] = node, ["port"] = port };

    [Fact]
    public async Task A_discovery_message_missing_a_field_is_logged_and_dropped_and_the_next_real_participant_is_still_discovered()
    {
        _cluster.Gateway.ExpectedErrors.Add(Dropped);
        var (broken, real) = (MsgFloCluster.Unique("broken"), MsgFloCluster.Unique("double"));
        var before = _cluster.Gateway.Logs.Errors.Count(e => e.Contains(Dropped, StringComparison.Ordinal));

        // As a participant would announce itself, published raw on the fbp queue, but without outports.
        var announcement = new JsonObject
        {
            ["protocol"] = "discovery",
            ["command"] = "participant",
            ["payload"] = new JsonObject
            {
                ["id"] = broken,
                ["role"] = broken,
                ["component"] = "trellis/Broken",
                ["inports"] = new JsonArray(new JsonObject { ["id"] = "in", ["queue"] = $"{broken}.IN" }),
            },
        };
        await _cluster.FlowBroker.SendToQueueAsync("fbp", Encoding.UTF8.GetBytes(announcement.ToJsonString()), null, CancellationToken.None);
        var logged = await Waits.UntilAsync(() => Task.FromResult(_cluster.Gateway.Logs.Errors.Where(e => e.Contains(Dropped, StringComparison.Ordinal)).ToArray()),
            e => e.Length > before, "the broken announcement to be logged as dropped");
        Assert.Contains("missing .outports", logged[^1], StringComparison.Ordinal);

        _cluster.Start("double.js", real);
        await _cluster.ListedAsync(real);
        var participants = await _cluster.Networks.ListParticipantsAsync(CancellationToken.None);
        Assert.DoesNotContain(participants, p => p.Definition.Role == broken);
        Assert.Single(_cluster.Gateway.Logs.Errors, e => e.Contains(Dropped, StringComparison.Ordinal));

        // The real participant's own announcements keep coming and are all accepted.
        var seen = participants.Single(p => p.Definition.Role == real).LastSeen;
        await Waits.UntilAsync(async () => (await _cluster.Networks.ListParticipantsAsync(CancellationToken.None)).Single(p => p.Definition.Role == real).LastSeen,
            last => last > seen, $"{real} to announce itself again");
        Assert.Single(_cluster.Gateway.Logs.Errors, e => e.Contains(Dropped, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Graph_addedge_without_a_payload_over_fbp_gets_an_error_and_the_next_command_works()
    {
        var (a, b) = (MsgFloCluster.Unique("repeat"), MsgFloCluster.Unique("double"));
        var graph = $"fbp-bad-{Guid.NewGuid():N}"[..18];
        _cluster.Start("repeat.js", a);
        _cluster.Start("double.js", b);
        await _cluster.ListedAsync(a, b);
        await using var client = await FbpClient.ConnectAsync(_cluster.Gateway);
        var fbp = FbpInbox.Start(client);
        await fbp.RequestAsync("graph", "clear", new JsonObject { ["id"] = graph });
        await fbp.RequestAsync("graph", "addnode", new JsonObject { ["id"] = a, ["component"] = "trellis/Repeat", ["graph"] = graph });
        await fbp.RequestAsync("graph", "addnode", new JsonObject { ["id"] = b, ["component"] = "trellis/Double", ["graph"] = graph });
        await fbp.RequestAsync("graph", "addinport", new JsonObject { ["public"] = "in", ["node"] = a, ["port"] = "in", ["graph"] = graph });
        await fbp.RequestAsync("graph", "addoutport", new JsonObject { ["public"] = "out", ["node"] = b, ["port"] = "out", ["graph"] = graph });

        // No payload at all: msgflo's runtime reads payload.src.node and its process dies.
        await client.SendTextAsync(new JsonObject { ["protocol"] = "graph", ["command"] = "addedge", ["requestId"] = "no-payload", ["secret"] = TestGateway.AdminToken }.ToJsonString());
        var missing = await fbp.ErrorReplyAsync("no-payload", "graph:addedge without a payload");
        Assert.Contains("No graph specified", missing, StringComparison.Ordinal); // the first required field, in fbp-protocol's words
        Assert.Contains("payload.src is required", await fbp.ErrorAsync("graph", "addedge", new JsonObject { ["graph"] = graph }), StringComparison.Ordinal);
        Assert.Contains("payload.tgt", await fbp.ErrorAsync("graph", "addedge", new JsonObject { ["src"] = Port(a, "out"), ["graph"] = graph }), StringComparison.Ordinal);

        // The same session goes on: the edge added next is wired, and data crosses it.
        var added = await fbp.RequestAsync("graph", "addedge", new JsonObject { ["src"] = Port(a, "out"), ["tgt"] = Port(b, "in"), ["graph"] = graph });
        Assert.Equal(b, (string?)added!["tgt"]!["node"]);
        await Waits.UntilAsync(() => _cluster.Networks.GetSetupAsync(graph, CancellationToken.None), s => s.Bindings.Count == 1 && s.Pending.Count == 0, $"graph {graph} wired: {a}.OUT -> {b}.IN");
        await fbp.RequestAsync("runtime", "packet", new JsonObject { ["port"] = "in", ["event"] = "data", ["payload"] = 3, ["graph"] = graph }, "packetsent");
        await fbp.ExpectAsync($"runtime:packet 6 from outport 'out' ({_cluster.Outputs(a, b)})",
            m => (string?)m["protocol"] == "runtime" && (string?)m["command"] == "packet" && m["payload"]!["payload"]?.ToJsonString() == "6");
        Assert.Empty(_cluster.Gateway.Logs.Errors);
    }
}
