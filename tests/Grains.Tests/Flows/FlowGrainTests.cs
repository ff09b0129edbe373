using System.Collections.Concurrent;
using System.Text;
using System.Text.Json.Nodes;
using Trellis.Core.Errors;
using Trellis.Flows.Broker;
using Trellis.Flows.Graphs;
using Trellis.Flows.Networks;
using Trellis.TestKit;
using Xunit;

namespace Trellis.Grains.Tests.Flows;

/// <summary>The flow grains on the in-process broker: discovery on <c>fbp</c>, graphs that wait for their participants,
/// incremental rewiring, IIPs, round robin with deadletter, expiry and re-announcement.</summary>
public sealed class FlowGrainTests(FlowCluster flows) : IClassFixture<FlowCluster>
{
    private static readonly CancellationToken None = CancellationToken.None;

    private static string Unique(string role) => $"{role}{Guid.NewGuid():N}"[..(role.Length + 8)];

    private static JsonNode? Double(JsonNode? d) => JsonValue.Create(d!.GetValue<double>() * 2);

    private static FlowGraph Pipeline(string a, string b, string c)
    {
        var g = new FlowGraph();
        g.AddNode(a, "Repeat");
        g.AddNode(b, "Double");
        g.AddNode(c, "Repeat");
        g.AddEdge(new(a, "out"), new(b, "in"));
        g.AddEdge(new(b, "out"), new(c, "in"));
        g.AddInport("input", a, "in");
        g.AddOutport("output", c, "out");
        return g;
    }

    private async Task<ConcurrentQueue<string>> TapAsync(string exchange, List<IAsyncDisposable> taps)
    {
        var seen = new ConcurrentQueue<string>();
        taps.Add(await flows.Broker.TapAsync(exchange, (_, body, _) =>
        {
            seen.Enqueue(Encoding.UTF8.GetString(body.Span));
            return ValueTask.CompletedTask;
        }, None));
        return seen;
    }

    private Task<ParticipantInfo> ListedAsync(string id, Func<ParticipantInfo, bool> done, string what) =>
        Waits.UntilAsync(
            async () => (await flows.Networks.ListParticipantsAsync(None)).FirstOrDefault(p => p.Definition.Id == id)!,
            p => p is not null && done(p), $"participant {id} to be {what}");

    [Fact]
    public async Task A_participant_announced_on_fbp_is_listed_online_with_its_definition()
    {
        await using var p = await TestParticipant.StartAsync(flows.Broker, Unique("repeat"));

        var info = await ListedAsync(p.Id, static _ => true, "listed");

        Assert.Equal(ParticipantStatus.Online, info.Status);
        Assert.Equal(p.Role, info.Definition.Role);
        Assert.Equal(p.Inqueue, info.Definition.FindInport("IN")!.Queue);
        Assert.Equal(TimeSpan.FromSeconds(600), info.Definition.Heartbeat);
        Assert.True(info.FirstSeen <= info.LastSeen);
    }

    [Fact]
    public async Task Bad_discovery_messages_are_dropped_and_logged_naming_the_problem_and_later_ones_still_count()
    {
        var id = $"bad-{Guid.NewGuid():N}";
        foreach (var bad in new[]
                 {
                     "this is not json " + id,
                     $$$"""{"protocol":"discovery","command":"participant","payload":{"id":"{{{id}}}","component":"x","inports":[],"outports":[]}}""",
                     $$$"""{"protocol":"discovery","command":"goodbye","payload":{"id":"{{{id}}}","role":"x"}}""",
                 })
        {
            await flows.Broker.SendToQueueAsync(FlowNames.DiscoveryQueue, Encoding.UTF8.GetBytes(bad), null, None);
        }

        await using var good = await TestParticipant.StartAsync(flows.Broker, Unique("good"));
        await ListedAsync(good.Id, static _ => true, "listed after the bad messages");

        Assert.Contains(flows.Logged, l => l.Contains("not JSON", StringComparison.Ordinal));
        Assert.Contains(flows.Logged, l => l.Contains("missing .role", StringComparison.Ordinal));
        Assert.Contains(flows.Logged, l => l.Contains("goodbye", StringComparison.Ordinal));
        Assert.DoesNotContain((await flows.Networks.ListParticipantsAsync(None)), p => p.Definition.Id == id);
    }

    [Fact]
    public async Task One_silo_holds_the_discovery_queue()
    {
        await Waits.UntilAsync(() => Task.FromResult(flows.Consumers.Count(c => c.Holding)), n => n == 1, "exactly one silo to hold fbp");
    }

    [Fact]
    public async Task A_graph_set_before_its_participants_stays_pending_and_is_bound_with_its_IIP_sent_when_they_appear()
    {
        var (a, b, c) = (Unique("repeat"), Unique("double"), Unique("last"));
        var graph = $"test/{Guid.NewGuid():N}";
        var g = Pipeline(a, b, c);
        g.AddInitial(JsonValue.Create(21), new(a, "in"));

        var setup = await flows.Networks.SetGraphAsync(graph, g, None);
        Assert.Empty(setup.Bindings);
        Assert.Equal([a, b, c], setup.Pending);

        var taps = new List<IAsyncDisposable>();
        await using var pa = await TestParticipant.StartAsync(flows.Broker, a, announce: false);
        await using var pb = await TestParticipant.StartAsync(flows.Broker, b, Double, announce: false);
        await using var pc = await TestParticipant.StartAsync(flows.Broker, c, announce: false);
        var output = await TapAsync(pc.Outport, taps);
        await pa.AnnounceAsync();
        await pb.AnnounceAsync();
        await pc.AnnounceAsync();

        setup = await Waits.UntilAsync(() => flows.Networks.GetSetupAsync(graph, None), s => s.Pending.Count == 0 && s.Bindings.Count == 2, $"graph {graph} to bind once its participants appeared");
        Assert.Equal([$"PUBSUB: \t {a}.OUT -> {b}.IN", $"PUBSUB: \t {b}.OUT -> {c}.IN"], setup.Bindings.SelectMany(x => x.Describe()));
        Assert.Empty(setup.Problems);
        await Waits.UntilAsync(() => Task.FromResult(output.ToArray()), o => o.Contains("42"), $"the IIP 21 doubled to come out of {c}.OUT");

        await flows.Networks.SendToInportAsync(graph, "input", JsonValue.Create(5), None);
        await Waits.UntilAsync(() => Task.FromResult(output.ToArray()), o => o.Contains("10"), "5 sent to the exported inport to come out doubled");
        Assert.Single(pa.Received, "21");

        // Edits and re-announcements do not send an IIP twice.
        await pa.AnnounceAsync();
        await flows.Networks.ApplyAsync(graph, new GraphChange(GraphChangeKind.ChangeNode, Node: a, Metadata: new JsonObject { ["x"] = 1 }), None);
        await flows.Networks.SendToInportAsync(graph, "input", JsonValue.Create(7), None);
        await Waits.UntilAsync(() => Task.FromResult(output.ToArray()), o => o.Contains("14"), "7 to come out doubled");
        Assert.Single(pa.Received, "21");
        foreach (var t in taps)
        {
            await t.DisposeAsync();
        }
    }

    [Fact]
    public async Task Edits_rewire_incrementally_removed_edges_stop_the_flow_and_added_ones_restart_it()
    {
        var (a, b, c) = (Unique("repeat"), Unique("double"), Unique("last"));
        var graph = $"test/{Guid.NewGuid():N}";
        var taps = new List<IAsyncDisposable>();
        await using var pa = await TestParticipant.StartAsync(flows.Broker, a);
        await using var pb = await TestParticipant.StartAsync(flows.Broker, b, Double);
        await using var pc = await TestParticipant.StartAsync(flows.Broker, c);
        var output = await TapAsync(pc.Outport, taps);
        await Task.WhenAll(new[] { pa, pb, pc }.Select(p => ListedAsync(p.Id, static _ => true, "listed")));

        var setup = await flows.Networks.SetGraphAsync(graph, Pipeline(a, b, c), None);
        Assert.Equal(2, setup.Bindings.Count);
        await flows.Networks.SendToInportAsync(graph, "input", JsonValue.Create(1), None);
        await Waits.UntilAsync(() => Task.FromResult(output.ToArray()), o => o.Contains("2"), "1 to flow through the pipeline");

        setup = await flows.Networks.ApplyAsync(graph, new GraphChange(GraphChangeKind.RemoveEdge, Src: new(b, "out"), Tgt: new(c, "in")), None);
        Assert.Equal([$"PUBSUB: \t {a}.OUT -> {b}.IN"], setup.Bindings.SelectMany(x => x.Describe()));
        await flows.Networks.SendToInportAsync(graph, "input", JsonValue.Create(3), None);
        await Waits.UntilAsync(() => Task.FromResult(pb.Received.ToArray()), r => r.Contains("3"), $"3 to reach {b} still");
        var afterRemoval = await TapAsync(pb.Outport, taps);
        await flows.Networks.SendToInportAsync(graph, "input", JsonValue.Create(4), None);
        await Waits.UntilAsync(() => Task.FromResult(afterRemoval.ToArray()), r => r.Contains("8"), $"8 to leave {b}");
        Assert.DoesNotContain("3", pc.Received);
        Assert.DoesNotContain("4", pc.Received);

        setup = await flows.Networks.ApplyAsync(graph, new GraphChange(GraphChangeKind.AddEdge, Src: new(b, "OUT"), Tgt: new(c, "IN")), None);
        Assert.Equal(2, setup.Bindings.Count);
        await flows.Networks.SendToInportAsync(graph, "input", JsonValue.Create(50), None);
        await Waits.UntilAsync(() => Task.FromResult(output.ToArray()), o => o.Contains("100"), "50 to flow again once the edge is back");

        setup = await flows.Networks.ApplyAsync(graph, new GraphChange(GraphChangeKind.RemoveNode, Node: b), None);
        Assert.Empty(setup.Bindings);
        setup = await flows.Networks.ApplyAsync(graph, new GraphChange(GraphChangeKind.AddNode, Node: b, Component: "Double"), None);
        Assert.Empty(setup.Bindings);

        var bad = await Assert.ThrowsAsync<TrellisException>(() => flows.Networks.ApplyAsync(graph, new GraphChange(GraphChangeKind.RemoveEdge, Src: new(a, "out"), Tgt: new("nowhere", "in")), None));
        Assert.Equal(ErrorKind.NotFound, bad.Kind);
        Assert.Contains("nowhere", bad.Message, StringComparison.Ordinal);
        foreach (var t in taps)
        {
            await t.DisposeAsync();
        }
    }

    [Fact]
    public async Task SetGraph_replaces_the_wiring_unbinding_what_is_gone_and_binding_what_is_new()
    {
        var (a, b, c) = (Unique("repeat"), Unique("double"), Unique("last"));
        var graph = $"test/{Guid.NewGuid():N}";
        await using var pa = await TestParticipant.StartAsync(flows.Broker, a);
        await using var pb = await TestParticipant.StartAsync(flows.Broker, b, Double);
        await using var pc = await TestParticipant.StartAsync(flows.Broker, c);
        await Task.WhenAll(new[] { pa, pb, pc }.Select(p => ListedAsync(p.Id, static _ => true, "listed")));
        await flows.Networks.SetGraphAsync(graph, Pipeline(a, b, c), None);

        var direct = new FlowGraph();
        direct.AddNode(a, "Repeat");
        direct.AddNode(c, "Repeat");
        direct.AddEdge(new(a, "out"), new(c, "in"));
        var setup = await flows.Networks.SetGraphAsync(graph, direct, None);

        Assert.Equal([FlowBinding.PubSub($"{a}.OUT", $"{c}.IN")], setup.Bindings);
        await flows.Broker.SendToQueueAsync(pa.Inqueue, "9"u8.ToArray(), null, None);
        await Waits.UntilAsync(() => Task.FromResult(pc.Received.ToArray()), r => r.Contains("9"), $"9 to go straight from {a} to {c}");
        Assert.DoesNotContain("9", pb.Received);
        Assert.Contains(graph, await flows.Networks.ListGraphsAsync(None));
        Assert.Equal([a, c], (await flows.Networks.GetGraphAsync(graph, None)).Processes.Keys);
    }

    [Fact]
    public async Task Round_robin_with_deadletter_sends_what_the_worker_nacks_to_the_deadletter_queue()
    {
        var (producer, worker, dead) = (Unique("producer"), Unique("worker"), Unique("dead"));
        var graph = $"test/{Guid.NewGuid():N}";
        await using var pp = await TestParticipant.StartAsync(flows.Broker, producer);
        await using var pw = await TestParticipant.StartAsync(flows.Broker, worker, nack: true);
        await using var pd = await TestParticipant.StartAsync(flows.Broker, dead);
        await Task.WhenAll(new[] { pp, pw, pd }.Select(p => ListedAsync(p.Id, static _ => true, "listed")));
        var g = new FlowGraph();
        g.AddNode(producer, "Repeat");
        g.AddNode("rr", "msgflo/RoundRobin");
        g.AddNode(worker, "Fail");
        g.AddNode(dead, "Collect");
        g.AddEdge(new(producer, "out"), new("rr", "in"));
        g.AddEdge(new("rr", "out"), new(worker, "in"));
        g.AddEdge(new("rr", "deadletter"), new(dead, "in"));

        var setup = await flows.Networks.SetGraphAsync(graph, g, None);

        Assert.Equal([$"DEADLETTER:\t {worker}.IN -> {dead}.IN", $"ROUNDROBIN:\t {producer}.OUT -> {worker}.IN"], setup.Bindings.SelectMany(x => x.Describe()));
        await flows.Broker.SendToQueueAsync(pp.Inqueue, "\"poison\""u8.ToArray(), null, None);
        await Waits.UntilAsync(() => Task.FromResult(pd.Received.ToArray()), r => r.Contains("\"poison\""), $"the message {worker} nacked to land in {dead}.IN");
        Assert.Contains("\"poison\"", pw.Received);
    }

    [Fact]
    public async Task A_participant_expires_after_its_heartbeat_without_unwiring_and_a_reannouncement_brings_it_back()
    {
        var (a, b) = (Unique("repeat"), Unique("double"));
        var graph = $"test/{Guid.NewGuid():N}";
        await using var pa = await TestParticipant.StartAsync(flows.Broker, a, heartbeat: 1);
        await using var pb = await TestParticipant.StartAsync(flows.Broker, b, Double);
        var g = new FlowGraph();
        g.AddNode(a, "Repeat");
        g.AddNode(b, "Double");
        g.AddEdge(new(a, "out"), new(b, "in"));
        await ListedAsync(pb.Id, static _ => true, "listed");
        var first = await ListedAsync(pa.Id, static _ => true, "listed");
        Assert.Equal(TimeSpan.FromSeconds(1), first.Definition.Heartbeat);
        await flows.Networks.SetGraphAsync(graph, g, None);

        await ListedAsync(pa.Id, static p => p.Status == ParticipantStatus.Expired, "expired after its 1 s heartbeat");
        Assert.Single((await flows.Networks.GetSetupAsync(graph, None)).Bindings);
        Assert.Equal(ParticipantStatus.Online, (await ListedAsync(pb.Id, static _ => true, "listed")).Status);

        // A participant that announces again (as it does every heartbeat) is back online.
        var back = await Waits.UntilAsync(
            async () =>
            {
                await pa.AnnounceAsync();
                return (await flows.Networks.ListParticipantsAsync(None)).First(p => p.Definition.Id == pa.Id);
            },
            static p => p.Status == ParticipantStatus.Online,
            $"participant {pa.Id} to be online again while it announces itself");
        Assert.Equal(first.FirstSeen, back.FirstSeen);
        Assert.True(back.LastSeen > first.LastSeen);
    }
}
