using Xunit;
using System.Text.Json.Nodes;
using Trellis.Flows.Broker;
using Trellis.Flows.Discovery;
using Trellis.Flows.Graphs;
using Trellis.Flows.Networks;

namespace Trellis.Flows.Tests.Networks;

public sealed class FlowWiringTests
{
    /// <summary>A participant as msgflo-nodejs announces one: queues named <c>&lt;role&gt;.&lt;PORT&gt;</c>.</summary>
    private static ParticipantDefinition Participant(string role, string component, string[] inports, string[] outports, string? hiddenOutport = null) =>
        new($"{role}-1234", role, component, null, null,
            inports.Select(p => new ParticipantPort(p, $"{role}.{p.ToUpperInvariant()}")).ToList(),
            outports.Select(p => new ParticipantPort(p, p == hiddenOutport ? null : $"{role}.{p.ToUpperInvariant()}")).ToList(),
            null, []);

    private static Dictionary<string, ParticipantDefinition> Known(params ParticipantDefinition[] participants) =>
        participants.ToDictionary(p => p.Role);

    private static FlowGraph Pipeline()
    {
        var g = new FlowGraph();
        g.AddNode("repeat", "Repeat");
        g.AddNode("double", "Double");
        g.AddNode("last", "Repeat");
        g.AddEdge(new("repeat", "OUT"), new("double", "IN"));
        g.AddEdge(new("double", "OUT"), new("last", "IN"));
        return g;
    }

    [Fact]
    public void An_edge_between_two_participants_is_a_pubsub_binding_from_the_outport_exchange_to_the_inqueue()
    {
        var plan = FlowWiring.Plan(Pipeline(), Known(
            Participant("repeat", "Repeat", ["in"], ["out"]),
            Participant("double", "Double", ["in"], ["out"]),
            Participant("last", "Repeat", ["in"], ["out"])));

        Assert.Equal(
            ["PUBSUB: \t repeat.OUT -> double.IN", "PUBSUB: \t double.OUT -> last.IN"],
            plan.Bindings.SelectMany(b => b.Describe()));
        Assert.Empty(plan.Pending);
        Assert.Empty(plan.Problems);
    }

    [Fact]
    public void Queues_come_from_the_announced_ports_matched_without_case()
    {
        var g = new FlowGraph();
        g.AddNode("a", "A");
        g.AddNode("b", "B");
        g.AddEdge(new("a", "Result"), new("b", "Data"));
        var a = new ParticipantDefinition("a-1", "a", "A", null, null, [], [new ParticipantPort("RESULT", "custom-out-exchange")], null, []);
        var b = new ParticipantDefinition("b-1", "b", "B", null, null, [new ParticipantPort("data", "custom-in-queue")], [], null, []);

        var plan = FlowWiring.Plan(g, Known(a, b));

        Assert.Equal([FlowBinding.PubSub("custom-out-exchange", "custom-in-queue")], plan.Bindings);
    }

    [Fact]
    public void Nodes_without_a_participant_are_pending_and_their_edges_wait()
    {
        var plan = FlowWiring.Plan(Pipeline(), Known(
            Participant("repeat", "Repeat", ["in"], ["out"]),
            Participant("double", "Double", ["in"], ["out"])));

        Assert.Equal(["PUBSUB: \t repeat.OUT -> double.IN"], plan.Bindings.SelectMany(b => b.Describe()));
        Assert.Equal(["last"], plan.Pending);
        Assert.Empty(plan.Problems);
    }

    [Fact]
    public void A_round_robin_node_gives_one_roundrobin_binding_with_its_deadletter_printed_as_msgflo_setup_does()
    {
        var g = new FlowGraph();
        g.AddNode("producer", "Repeat");
        g.AddNode("rr", FlowWiring.RoundRobinComponent);
        g.AddNode("worker", "Fail");
        g.AddNode("dead", "Collect");
        g.AddEdge(new("producer", "out"), new("rr", "in"));
        g.AddEdge(new("rr", "out"), new("worker", "in"));
        g.AddEdge(new("rr", "deadletter"), new("dead", "in"));

        var plan = FlowWiring.Plan(g, Known(
            Participant("producer", "Repeat", ["in"], ["out"]),
            Participant("worker", "Fail", ["in"], ["out"]),
            Participant("dead", "Collect", ["in"], [])));

        var binding = Assert.Single(plan.Bindings);
        Assert.Equal(new FlowBinding(FlowBindingKind.RoundRobin, "producer.OUT", "worker.IN", "dead.IN"), binding);
        Assert.Equal(["DEADLETTER:\t worker.IN -> dead.IN", "ROUNDROBIN:\t producer.OUT -> worker.IN"], binding.Describe());
        Assert.Empty(plan.Pending);
        Assert.Empty(plan.Problems);
    }

    [Fact]
    public void A_round_robin_binding_waits_until_every_end_the_graph_names_is_known()
    {
        var g = new FlowGraph();
        g.AddNode("producer", "Repeat");
        g.AddNode("rr", FlowWiring.RoundRobinComponent);
        g.AddNode("worker", "Fail");
        g.AddNode("dead", "Collect");
        g.AddEdge(new("producer", "out"), new("rr", "in"));
        g.AddEdge(new("rr", "out"), new("worker", "in"));
        g.AddEdge(new("rr", "deadletter"), new("dead", "in"));

        var plan = FlowWiring.Plan(g, Known(
            Participant("producer", "Repeat", ["in"], ["out"]),
            Participant("worker", "Fail", ["in"], ["out"])));

        Assert.Empty(plan.Bindings);
        Assert.Equal(["dead"], plan.Pending);
    }

    [Fact]
    public void PubSub_routing_nodes_bind_nothing_and_are_never_pending()
    {
        var g = new FlowGraph();
        g.AddNode("a", "A");
        g.AddNode("ps", FlowWiring.PubSubComponent);
        g.AddEdge(new("a", "out"), new("ps", "in"));

        var plan = FlowWiring.Plan(g, Known(Participant("a", "A", [], ["out"])));

        Assert.Empty(plan.Bindings);
        Assert.Empty(plan.Pending);
        Assert.Empty(plan.Problems);
    }

    [Fact]
    public void Initial_packets_are_deliverable_once_their_target_and_everything_downstream_is_known_each_with_a_stable_key()
    {
        var g = Pipeline();
        g.AddInitial(JsonValue.Create(3), new("repeat", "in"));
        g.AddInitial(JsonValue.Create("x"), new("last", "in"));
        g.AddInitial(JsonValue.Create(3), new("repeat", "in"));

        var known = Known(
            Participant("repeat", "Repeat", ["in"], ["out"]),
            Participant("double", "Double", ["in"], ["out"]));
        Assert.Empty(FlowWiring.Plan(g, known).Initials);

        known.Add("last", Participant("last", "Repeat", ["in"], ["out"]));
        known.Remove("double");
        var waiting = FlowWiring.Plan(g, known);
        Assert.Equal(["last.IN"], waiting.Initials.Select(i => i.Queue));

        known.Add("double", Participant("double", "Double", ["in"], ["out"]));
        var plan = FlowWiring.Plan(g, known);
        Assert.Equal(["repeat.IN", "last.IN", "repeat.IN"], plan.Initials.Select(i => i.Queue));
        plan = plan with { Initials = [.. plan.Initials.Where(i => i.Target.Process == "repeat")] };

        Assert.Equal(["repeat.IN", "repeat.IN"], plan.Initials.Select(i => i.Queue));
        Assert.Equal(3, plan.Initials[0].Data!.GetValue<int>());
        Assert.Equal(2, plan.Initials.Select(i => i.Key).Distinct().Count());
        var again = FlowWiring.Plan(g, known);
        Assert.Equal(plan.Initials.Select(i => i.Key), again.Initials.Where(i => i.Target.Process == "repeat").Select(i => i.Key));
    }

    [Fact]
    public void A_removed_edge_is_no_longer_planned()
    {
        var g = Pipeline();
        var known = Known(
            Participant("repeat", "Repeat", ["in"], ["out"]),
            Participant("double", "Double", ["in"], ["out"]),
            Participant("last", "Repeat", ["in"], ["out"]));
        var before = FlowWiring.Plan(g, known).Bindings;

        g.RemoveEdge(new("double", "out"), new("last", "in"));
        var after = FlowWiring.Plan(g, known).Bindings;

        Assert.Equal([FlowBinding.PubSub("double.OUT", "last.IN")], before.Except(after));
        Assert.Equal([FlowBinding.PubSub("repeat.OUT", "double.IN")], after);
    }

    [Fact]
    public void An_unknown_or_hidden_port_is_a_problem_naming_the_port()
    {
        var g = Pipeline();
        g.AddInitial(JsonValue.Create(1), new("repeat", "times"));
        var plan = FlowWiring.Plan(g, Known(
            Participant("repeat", "Repeat", ["in"], ["out"], hiddenOutport: "out"),
            Participant("double", "Double", ["input"], ["out"]),
            Participant("last", "Repeat", ["in"], ["out"])));

        Assert.Equal(["PUBSUB: \t double.OUT -> last.IN"], plan.Bindings.SelectMany(b => b.Describe()));
        Assert.Contains(plan.Problems, p => p.Contains("has no inport 'in'", StringComparison.Ordinal) && p.Contains("double", StringComparison.Ordinal));
        Assert.Contains(plan.Problems, p => p.Contains("outport 'out'", StringComparison.Ordinal) && p.Contains("hidden", StringComparison.Ordinal));
        Assert.Contains(plan.Problems, p => p.Contains("initial packet to repeat.times", StringComparison.Ordinal) && p.Contains("no inport 'times'", StringComparison.Ordinal));
        Assert.Empty(plan.Initials);
    }
}
