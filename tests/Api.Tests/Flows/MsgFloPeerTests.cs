using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Trellis.Api.Tests.Infrastructure;
using Trellis.Flows.Broker;
using Trellis.Flows.Graphs;
using Trellis.Flows.Networks;
using Trellis.Grains.Flows;
using Trellis.TestKit;
using Trellis.TestKit.Net;
using Xunit;

namespace Trellis.Api.Tests.Flows;

/// <summary>Stock msgflo-nodejs participants (tests/Interop/flows) on RabbitMQ, discovered and wired by Trellis (a silo
/// composed like the real process on the test broker): a 3-stage pipeline set by SetGraph with an IIP, data in at the
/// first inqueue and out at the last outport, an edge removed, a participant that starts after its graph, expiry, and
/// round robin with deadletter. Each test has a virtual host of its own: the fbp discovery queue is one per virtual host
/// (as in msgflo), consumed by one coordinator.</summary>
public sealed class MsgFloPeerTests : IAsyncLifetime
{
    private static readonly CancellationToken None = CancellationToken.None;
    private readonly List<MsgFloParticipant> _participants = [];
    private readonly List<IAsyncDisposable> _watches = [];
    private TestGateway _silo = null!;
    private RabbitMqVirtualHost _vhost = null!;
    private string _broker = null!;

    private IFlowNetworks Networks => _silo.Services.GetRequiredService<IFlowNetworks>();

    private IFlowBroker Broker => _silo.Services.GetRequiredService<IFlowBroker>();

    public async ValueTask InitializeAsync()
    {
        _vhost = await RabbitMqVirtualHost.CreateAsync("msgflo");
        _broker = _vhost.Uri;
        var settings = new Dictionary<string, string?>
        {
            ["Trellis:Transport:Provider"] = "RabbitMq",
            ["Trellis:Transport:RabbitMq:Uri"] = _broker,
        };
        settings["Trellis:Flows:DiscoveryRetry"] = "0.5";
        _silo = await TestGateway.StartAsync(settings: settings);
        var discovery = _silo.Services.GetRequiredService<FlowDiscoveryService>();
        await Waits.UntilAsync(() => Task.FromResult(discovery.Holding), h => h, "the test silo to hold the fbp queue");
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            foreach (var w in _watches)
            {
                await w.DisposeAsync();
            }
        }
        finally
        {
            foreach (var p in _participants)
            {
                await p.DisposeAsync();
            }

            await _silo.DisposeAsync();
            await _vhost.DisposeAsync();
        }
    }

    private static string Unique(string role) => $"{role}{Guid.NewGuid():N}"[..(role.Length + 8)];

    private MsgFloParticipant Start(string module, string role, IDictionary<string, string>? environment = null)
    {
        var p = MsgFloParticipant.Start(module, role, _broker, environment);
        _participants.Add(p);
        return p;
    }

    private Task<ParticipantInfo> ListedAsync(string role, Func<ParticipantInfo, bool> done, string what) =>
        Waits.UntilAsync(
            async () => (await Networks.ListParticipantsAsync(None)).Where(p => p.Definition.Role == role).OrderBy(p => p.LastSeen).LastOrDefault()!,
            p => p is not null && done(p),
            $"a participant of role {role} to be {what} ({string.Join("; ", _participants.Where(x => x.Role == role).Select(x => x.Output))})",
            TimeSpan.FromSeconds(60));

    private static FlowGraph Pipeline(string a, string b, string c)
    {
        var g = new FlowGraph();
        g.AddNode(a, "trellis/Repeat");
        g.AddNode(b, "trellis/Double");
        g.AddNode(c, "trellis/Repeat");
        g.AddEdge(new(a, "out"), new(b, "in"));
        g.AddEdge(new(b, "out"), new(c, "in"));
        g.AddInport("input", a, "in");
        g.AddOutport("output", c, "out");
        return g;
    }

    private async Task<ConcurrentQueue<string>> WatchOutputAsync(string graph)
    {
        var seen = new ConcurrentQueue<string>();
        _watches.Add(await Networks.WatchOutportsAsync(graph, (packet, _) =>
        {
            seen.Enqueue(packet.Data?.ToJsonString() ?? "null");
            return ValueTask.CompletedTask;
        }, None));
        return seen;
    }

    private async Task<ConcurrentQueue<string>> TapAsync(string exchange)
    {
        var seen = new ConcurrentQueue<string>();
        _watches.Add(await Broker.TapAsync(exchange, (_, body, _) =>
        {
            seen.Enqueue(Encoding.UTF8.GetString(body.Span));
            return ValueTask.CompletedTask;
        }, None));
        return seen;
    }

    [Fact]
    public async Task A_pipeline_of_stock_participants_set_by_SetGraph_carries_the_IIP_and_data_to_the_last_outport_and_a_removed_edge_stops_it()
    {
        var (a, b, c) = (Unique("repeat"), Unique("double"), Unique("last"));
        var graph = $"test/{Guid.NewGuid():N}";
        Start("repeat.js", a);
        Start("double.js", b);
        Start("repeat.js", c);
        await Task.WhenAll(ListedAsync(a, static _ => true, "listed"), ListedAsync(b, static _ => true, "listed"), ListedAsync(c, static _ => true, "listed"));
        var g = Pipeline(a, b, c);
        g.AddInitial(JsonValue.Create(21), new(a, "in"));

        // The watch needs the participants' exchanges; set the graph without its IIP first, watch, then add the IIP.
        var setup = await Networks.SetGraphAsync(graph, Pipeline(a, b, c), None);
        Assert.Equal([$"PUBSUB: \t {a}.OUT -> {b}.IN", $"PUBSUB: \t {b}.OUT -> {c}.IN"], setup.Bindings.SelectMany(x => x.Describe()));
        Assert.Empty(setup.Pending);
        Assert.Empty(setup.Problems);
        var output = await WatchOutputAsync(graph);
        await Networks.SetGraphAsync(graph, g, None);
        await Waits.UntilAsync(() => Task.FromResult(output.ToArray()), o => o.Contains("42"), "the IIP 21 to come out doubled");

        await Networks.SendToInportAsync(graph, "input", JsonValue.Create(5), None);
        await Waits.UntilAsync(() => Task.FromResult(output.ToArray()), o => o.Contains("10"), "5 sent to the first inqueue to come out of the last outport as 10");

        await Networks.ApplyAsync(graph, new GraphChange(GraphChangeKind.RemoveEdge, Src: new(b, "out"), Tgt: new(c, "in")), None);
        var middle = await TapAsync($"{b}.OUT");
        await Networks.SendToInportAsync(graph, "input", JsonValue.Create(6), None);
        await Waits.UntilAsync(() => Task.FromResult(middle.ToArray()), o => o.Contains("12"), $"6 to leave {b} doubled");
        await Networks.SendToInportAsync(graph, "input", JsonValue.Create(7), None);
        await Waits.UntilAsync(() => Task.FromResult(middle.ToArray()), o => o.Contains("14"), $"7 to leave {b} doubled");
        // 7 was sent after 6 on the same path; once 14 left b, 12 had its chance to reach c and did not.
        Assert.DoesNotContain("12", output);
        Assert.DoesNotContain("14", output);
    }

    [Fact]
    public async Task A_participant_that_starts_after_its_graph_is_bound_when_it_appears_and_gets_its_IIP()
    {
        var (a, b) = (Unique("repeat"), Unique("double"));
        var graph = $"test/{Guid.NewGuid():N}";
        Start("repeat.js", b + "tap"); // unrelated, keeps the broker busy with announcements
        var g = new FlowGraph();
        g.AddNode(a, "trellis/Repeat");
        g.AddNode(b, "trellis/Double");
        g.AddEdge(new(a, "out"), new(b, "in"));
        g.AddInitial(JsonValue.Create(4), new(a, "in"));

        var setup = await Networks.SetGraphAsync(graph, g, None);
        Assert.Equal([a, b], setup.Pending);
        Assert.Empty(setup.Bindings);

        Start("repeat.js", a);
        Start("double.js", b);
        await ListedAsync(b, static _ => true, "listed");
        setup = await Waits.UntilAsync(() => Networks.GetSetupAsync(graph, None), s => s.Pending.Count == 0 && s.Bindings.Count == 1, $"graph {graph} to be bound once {a} and {b} appeared", TimeSpan.FromSeconds(60));
        Assert.Equal([$"PUBSUB: \t {a}.OUT -> {b}.IN"], setup.Bindings.SelectMany(x => x.Describe()));
    }

    [Fact]
    public async Task A_participant_that_stops_announcing_expires_and_is_back_online_when_it_announces_again()
    {
        var b = Unique("double");
        var id = $"{b}-fixed";
        var environment = new Dictionary<string, string> { ["TRELLIS_PARTICIPANT_ID"] = id, ["TRELLIS_PARTICIPANT_HEARTBEAT"] = "2" };
        var first = Start("double.js", b, environment);
        var seen = await ListedAsync(b, static p => p.Status == ParticipantStatus.Online, "online");
        Assert.Equal(id, seen.Definition.Id);
        Assert.Equal(TimeSpan.FromSeconds(2), seen.Definition.Heartbeat);

        await first.DisposeAsync();
        await ListedAsync(b, static p => p.Status == ParticipantStatus.Expired, "expired after it stopped announcing (2 s heartbeat)");

        Start("double.js", b, environment);
        var back = await ListedAsync(b, static p => p.Status == ParticipantStatus.Online, "online again after a restart");
        Assert.Equal(seen.FirstSeen, back.FirstSeen);
    }

    [Fact]
    public async Task A_message_the_round_robin_worker_nacks_lands_in_the_deadletter_queue()
    {
        var (producer, worker, dead) = (Unique("producer"), Unique("fail"), Unique("dead"));
        var graph = $"test/{Guid.NewGuid():N}";
        Start("repeat.js", producer);
        Start("fail.js", worker);
        Start("repeat.js", dead);
        await Task.WhenAll(ListedAsync(producer, static _ => true, "listed"), ListedAsync(worker, static _ => true, "listed"), ListedAsync(dead, static _ => true, "listed"));
        var g = new FlowGraph();
        g.AddNode(producer, "trellis/Repeat");
        g.AddNode("rr", "msgflo/RoundRobin");
        g.AddNode(worker, "trellis/Fail");
        g.AddNode(dead, "trellis/Repeat");
        g.AddEdge(new(producer, "out"), new("rr", "in"));
        g.AddEdge(new("rr", "out"), new(worker, "in"));
        g.AddEdge(new("rr", "deadletter"), new(dead, "in"));
        g.AddInport("input", producer, "in");

        var setup = await Networks.SetGraphAsync(graph, g, None);

        Assert.Equal([$"DEADLETTER:\t {worker}.IN -> {dead}.IN", $"ROUNDROBIN:\t {producer}.OUT -> {worker}.IN"], setup.Bindings.SelectMany(x => x.Describe()));
        var deadOut = await TapAsync($"{dead}.OUT");
        await Networks.SendToInportAsync(graph, "input", JsonValue.Create("poison"), None);
        await Waits.UntilAsync(() => Task.FromResult(deadOut.ToArray()), o => o.Contains("\"poison\""), $"the message {worker} nacked to reach {dead} through the deadletter queue");
    }

    [Fact]
    public async Task Throughput_of_a_pipeline_of_stock_participants_wired_by_Trellis()
    {
        const int Count = 2000;
        var (a, b, c) = (Unique("repeat"), Unique("double"), Unique("last"));
        var graph = $"test/{Guid.NewGuid():N}";
        Start("repeat.js", a);
        Start("double.js", b);
        Start("repeat.js", c);
        await Task.WhenAll(ListedAsync(a, static _ => true, "listed"), ListedAsync(b, static _ => true, "listed"), ListedAsync(c, static _ => true, "listed"));
        await Networks.SetGraphAsync(graph, Pipeline(a, b, c), None);
        var received = 0;
        var done = new TaskCompletionSource();
        _watches.Add(await Networks.WatchOutportsAsync(graph, (_, _) =>
        {
            if (Interlocked.Increment(ref received) == Count)
            {
                done.TrySetResult();
            }

            return ValueTask.CompletedTask;
        }, None));

        var clock = Stopwatch.StartNew();
        for (var i = 0; i < Count; i++)
        {
            await Broker.SendToQueueAsync($"{a}.IN", Encoding.UTF8.GetBytes(i.ToString(System.Globalization.CultureInfo.InvariantCulture)), null, None);
        }

        var sent = clock.Elapsed;
        await done.Task.Within($"{Count} messages through the pipeline (got {Volatile.Read(ref received)})", TimeSpan.FromSeconds(120));
        clock.Stop();
        var line = $"msgflo-nodejs 3-stage pipeline wired by Trellis on RabbitMQ: {Count} messages in {clock.Elapsed.TotalSeconds:F2} s = {Count / clock.Elapsed.TotalSeconds:F0} msg/s (sending took {sent.TotalSeconds:F2} s)";
        TestContext.Current.SendDiagnosticMessage(line);
        var report = Environment.GetEnvironmentVariable("TRELLIS_FLOW_THROUGHPUT_FILE");
        if (!string.IsNullOrEmpty(report))
        {
            await File.AppendAllTextAsync(report, line + Environment.NewLine);
        }
    }
}
