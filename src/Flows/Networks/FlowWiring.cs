using System.Text.Json.Nodes;
using Trellis.Flows.Broker;
using Trellis.Flows.Discovery;
using Trellis.Flows.Graphs;

namespace Trellis.Flows.Networks;

/// <summary>An initial information packet that can be sent: the target's inqueue is known, and so is every participant
/// downstream of it (what it sets off would otherwise be lost on an outport with nothing bound yet).</summary>
/// <param name="Key">Identifies the IIP within its graph (target and data), so it is sent once.</param>
public sealed record FlowInitial(string Key, FlowPortRef Target, string Queue, JsonNode? Data);

/// <summary>What a graph needs on the broker given the participants discovered so far.</summary>
/// <param name="Bindings">The bindings the graph's edges make, as msgflo makes them.</param>
/// <param name="Pending">Nodes (roles) whose participant has not been seen, in graph order.</param>
/// <param name="Initials">IIPs whose target participant is known.</param>
/// <param name="Problems">Edges and IIPs that cannot be wired, each naming the node and port.</param>
public sealed record FlowWiringPlan(
    IReadOnlyList<FlowBinding> Bindings,
    IReadOnlyList<string> Pending,
    IReadOnlyList<FlowInitial> Initials,
    IReadOnlyList<string> Problems);

/// <summary>Wires a graph as msgflo's <c>setup.graphBindings</c> and coordinator do, with the queues the participants
/// announced: a graph node id is a participant role; an edge between two participants is a pubsub binding from the
/// source outport's exchange to the target inport's queue; a <c>msgflo/RoundRobin</c> node gives one round-robin
/// binding (its <c>deadletter</c> outport names the deadletter queue); <c>msgflo/PubSub</c> nodes bind nothing.
/// Ports are looked up by id without case, since graphs fold port names.</summary>
public static class FlowWiring
{
    public const string RoundRobinComponent = "msgflo/RoundRobin";

    public const string PubSubComponent = "msgflo/PubSub";

    /// <summary>msgflo's queue naming convention, <c>&lt;role&gt;.&lt;PORT&gt;</c> (what msgflo-nodejs participants use).</summary>
    public static string QueueName(string role, string port) => $"{role}.{port.ToUpperInvariant()}";

    /// <summary>True for a node a participant plays (not a msgflo routing node).</summary>
    public static bool IsParticipant(FlowProcess? process) =>
        process is not null && !string.IsNullOrEmpty(process.Component)
        && process.Component != RoundRobinComponent && process.Component != PubSubComponent;

    /// <summary>Computes the wiring of <paramref name="graph"/> given the participants known, by role.</summary>
    public static FlowWiringPlan Plan(FlowGraph graph, IReadOnlyDictionary<string, ParticipantDefinition> participantsByRole)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(participantsByRole);
        var resolver = new Resolver(graph, participantsByRole);
        var bindings = new List<FlowBinding>();
        var initials = new List<FlowInitial>();
        var roundRobins = new Dictionary<string, RoundRobinEnds>(StringComparer.Ordinal);
        foreach (var (name, process) in graph.Processes)
        {
            if (process.Component == RoundRobinComponent)
            {
                roundRobins[name] = new RoundRobinEnds();
            }
        }

        var iipCounts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var connection in graph.Connections)
        {
            if (connection.Src is not { } src)
            {
                var key = InitialKey(connection, iipCounts);
                if (resolver.Queue(connection.Tgt, inport: true, $"initial packet to {connection.Tgt}") is { } queue
                    && DownstreamKnown(graph, connection.Tgt.Process, participantsByRole))
                {
                    initials.Add(new FlowInitial(key, connection.Tgt, queue, connection.Data?.DeepClone()));
                }

                continue;
            }

            var tgt = connection.Tgt;
            var edge = $"edge {src} -> {tgt}";
            if (roundRobins.TryGetValue(src.Process, out var fromRoundRobin))
            {
                var queue = resolver.Queue(tgt, inport: true, edge);
                if (string.Equals(src.Port, "deadletter", StringComparison.OrdinalIgnoreCase))
                {
                    fromRoundRobin.DeadLetter = queue;
                    fromRoundRobin.WantsDeadLetter = true;
                }
                else
                {
                    fromRoundRobin.Target = queue;
                    fromRoundRobin.WantsTarget = true;
                }
            }
            else if (roundRobins.TryGetValue(tgt.Process, out var toRoundRobin))
            {
                toRoundRobin.Source = resolver.Queue(src, inport: false, edge);
                toRoundRobin.WantsSource = true;
            }
            else if (IsParticipant(graph.Processes.GetValueOrDefault(src.Process)) && IsParticipant(graph.Processes.GetValueOrDefault(tgt.Process)))
            {
                var source = resolver.Queue(src, inport: false, edge);
                var target = resolver.Queue(tgt, inport: true, edge);
                if (source is not null && target is not null)
                {
                    bindings.Add(FlowBinding.PubSub(source, target));
                }
            }
        }

        foreach (var (_, ends) in roundRobins)
        {
            // The binding waits until every end the graph names is known, so it is made once, whole.
            var complete = (!ends.WantsSource || ends.Source is not null)
                && (!ends.WantsTarget || ends.Target is not null)
                && (!ends.WantsDeadLetter || ends.DeadLetter is not null);
            if (complete && ends.Target is not null && (ends.Source is not null || ends.DeadLetter is not null))
            {
                bindings.Add(new FlowBinding(FlowBindingKind.RoundRobin, ends.Source, ends.Target, ends.DeadLetter));
            }
        }

        var pending = graph.Processes
            .Where(p => IsParticipant(p.Value) && !participantsByRole.ContainsKey(p.Key))
            .Select(p => p.Key)
            .ToList();
        return new FlowWiringPlan(bindings, pending, initials, resolver.Problems);
    }

    /// <summary>What is wrong with the ports of known participants that <paramref name="graph"/> names (edges, IIPs and
    /// exported ports): a port the participant does not announce, or announces hidden. Nodes whose participant has not
    /// appeared yet (pending) and msgflo routing nodes are not checked. Each entry names the node and the port.</summary>
    public static IReadOnlyList<string> PortErrors(FlowGraph graph, IReadOnlyDictionary<string, ParticipantDefinition> participantsByRole)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(participantsByRole);
        var errors = new List<string>();
        void Check(FlowPortRef end, bool inport, string what)
        {
            if (PortError(graph, end, inport, participantsByRole, what) is { } error)
            {
                errors.Add(error);
            }
        }

        foreach (var connection in graph.Connections)
        {
            if (connection.Src is { } src)
            {
                Check(src, inport: false, $"edge {src} -> {connection.Tgt}");
                Check(connection.Tgt, inport: true, $"edge {src} -> {connection.Tgt}");
            }
            else
            {
                Check(connection.Tgt, inport: true, $"initial packet to {connection.Tgt}");
            }
        }

        foreach (var (name, export) in graph.Inports)
        {
            Check(new FlowPortRef(export.Process, export.Port), inport: true, $"exported inport '{name}'");
        }

        foreach (var (name, export) in graph.Outports)
        {
            Check(new FlowPortRef(export.Process, export.Port), inport: false, $"exported outport '{name}'");
        }

        return errors;
    }

    /// <summary>What is wrong with one port of a graph node (<paramref name="what"/> says where the graph names it), or
    /// null when the port is fine, the node is not a participant, or its participant has not appeared yet.</summary>
    public static string? PortError(FlowGraph graph, FlowPortRef end, bool inport, IReadOnlyDictionary<string, ParticipantDefinition> participantsByRole, string what)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(end);
        ArgumentNullException.ThrowIfNull(participantsByRole);
        return IsParticipant(graph.Processes.GetValueOrDefault(end.Process)) && participantsByRole.TryGetValue(end.Process, out var participant)
            ? PortError(participant, end, inport, what)
            : null;
    }

    private static string? PortError(ParticipantDefinition participant, FlowPortRef end, bool inport, string what)
    {
        var direction = inport ? "inport" : "outport";
        var port = inport ? participant.FindInport(end.Port) : participant.FindOutport(end.Port);
        if (port is null)
        {
            var ports = inport ? participant.Inports : participant.Outports;
            var has = ports.Count == 0 ? $"it has no {direction}s" : $"its {direction}s are {string.Join(", ", ports.Select(static p => p.Id))}";
            return $"{what}: participant '{participant.Id}' (role '{end.Process}') has no {direction} '{end.Port}' ({has})";
        }

        return string.IsNullOrEmpty(port.Queue)
            ? $"{what}: the {direction} '{end.Port}' of participant '{participant.Id}' (role '{end.Process}') is hidden (no queue)"
            : null;
    }

    /// <summary>The queue (inport) or exchange (outport) of a participant's port, or null when it has no such port
    /// or the port is hidden.</summary>
    public static string? FindQueue(ParticipantDefinition participant, string port, bool inport) =>
        (inport ? participant.FindInport(port) : participant.FindOutport(port))?.Queue;

    /// <summary>True when every participant node reachable from <paramref name="node"/> has been discovered, so that what
    /// an IIP sets off is not lost on an outport nothing is bound to yet.</summary>
    private static bool DownstreamKnown(FlowGraph graph, string node, IReadOnlyDictionary<string, ParticipantDefinition> participants)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal) { node };
        var next = new Queue<string>([node]);
        while (next.TryDequeue(out var current))
        {
            if (IsParticipant(graph.Processes.GetValueOrDefault(current)) && !participants.ContainsKey(current))
            {
                return false;
            }

            foreach (var edge in graph.Edges)
            {
                if (edge.Src!.Process == current && seen.Add(edge.Tgt.Process))
                {
                    next.Enqueue(edge.Tgt.Process);
                }
            }
        }

        return true;
    }

    /// <summary>The keys of every IIP of the graph, in order (see <see cref="FlowInitial.Key"/>).</summary>
    public static IReadOnlyList<string> InitialKeys(FlowGraph graph)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        return graph.Initials.Select(c => InitialKey(c, counts)).ToList();
    }

    private static string InitialKey(FlowConnection connection, Dictionary<string, int> counts)
    {
        var key = $"{connection.Tgt} {connection.Data?.ToJsonString() ?? "null"}";
        var n = counts.GetValueOrDefault(key);
        counts[key] = n + 1;
        return n == 0 ? key : $"{key} #{n}";
    }

    private sealed class RoundRobinEnds
    {
        public string? Source { get; set; }

        public string? Target { get; set; }

        public string? DeadLetter { get; set; }

        public bool WantsSource { get; set; }

        public bool WantsTarget { get; set; }

        public bool WantsDeadLetter { get; set; }
    }

    private sealed class Resolver(FlowGraph graph, IReadOnlyDictionary<string, ParticipantDefinition> participants)
    {
        public List<string> Problems { get; } = [];

        /// <summary>The queue of a port, or null (with a problem recorded when the participant is known but lacks it).</summary>
        public string? Queue(FlowPortRef end, bool inport, string what)
        {
            var process = graph.Processes.GetValueOrDefault(end.Process);
            if (!IsParticipant(process))
            {
                Problems.Add($"{what}: node '{end.Process}' is not a participant");
                return null;
            }

            if (!participants.TryGetValue(end.Process, out var participant))
            {
                return null; // pending: the node is listed as waiting for its participant
            }

            if (PortError(participant, end, inport, what) is { } error)
            {
                Problems.Add(error);
                return null;
            }

            return FindQueue(participant, end.Port, inport);
        }
    }
}
