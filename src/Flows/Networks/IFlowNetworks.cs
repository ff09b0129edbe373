using System.Text.Json.Nodes;
using Trellis.Flows.Broker;
using Trellis.Flows.Discovery;
using Trellis.Flows.Graphs;

namespace Trellis.Flows.Networks;

/// <summary>Where a participant stands: seen within its heartbeat, or gone quiet.</summary>
public enum ParticipantStatus
{
    Online,
    Expired,
}

/// <summary>A participant as the cluster knows it.</summary>
public sealed record ParticipantInfo(
    ParticipantDefinition Definition,
    DateTimeOffset FirstSeen,
    DateTimeOffset LastSeen,
    ParticipantStatus Status);

/// <summary>What wiring a graph did: the bindings in place, the nodes still waiting for their participant, and
/// edges or IIPs that could not be wired (a port the participant does not have), each with the reason.</summary>
public sealed record FlowSetup(
    IReadOnlyList<FlowBinding> Bindings,
    IReadOnlyList<string> Pending,
    IReadOnlyList<string> Problems);

/// <summary>A network's running state (<c>network:status</c>).</summary>
public sealed record NetworkStatus(string Graph, bool Started, bool Running, DateTimeOffset? StartedAt);

/// <summary>A message seen on a watched edge (<c>network:data</c>) or an exported outport (<c>runtime:packet</c>).</summary>
public sealed record FlowPacket(string Graph, FlowPortRef? Src, FlowPortRef? Tgt, string? ExportedPort, JsonNode? Data);

public delegate ValueTask FlowPacketHandler(FlowPacket packet, CancellationToken cancellationToken);

/// <summary>The cluster's flows, for the APIs (HTTP, gRPC, the FBP runtime WebSocket) and tools: participants
/// discovered on <c>fbp</c>, graphs (each a grain) wired onto the broker as msgflo wires them, and the network
/// operations of the FBP protocol. The coordinator is never in the data path: it binds queues and sends IIPs.</summary>
public interface IFlowNetworks
{
    /// <summary>The graph the FBP runtime protocol edits when a message names none.</summary>
    const string DefaultGraph = "default/main";

    Task<IReadOnlyList<ParticipantInfo>> ListParticipantsAsync(CancellationToken cancellationToken);

    Task<IReadOnlyList<string>> ListGraphsAsync(CancellationToken cancellationToken);

    /// <summary>The graph; an empty graph when it was never set.</summary>
    Task<FlowGraph> GetGraphAsync(string graph, CancellationToken cancellationToken);

    /// <summary>Replaces the graph and wires it (like <c>msgflo-setup</c>): returns the bindings made and the nodes pending.</summary>
    Task<FlowSetup> SetGraphAsync(string graph, FlowGraph definition, CancellationToken cancellationToken);

    /// <summary>Applies one edit and rewires what it touches (an edge added is bound, an edge removed unbound, an IIP
    /// sent once its participant is there). Throws <see cref="Trellis.Core.Errors.TrellisException"/> for a bad edit,
    /// leaving the graph unchanged.</summary>
    Task<FlowSetup> ApplyAsync(string graph, GraphChange change, CancellationToken cancellationToken);

    Task<FlowSetup> GetSetupAsync(string graph, CancellationToken cancellationToken);

    Task<NetworkStatus> StartAsync(string graph, CancellationToken cancellationToken);

    Task<NetworkStatus> StopAsync(string graph, CancellationToken cancellationToken);

    Task<NetworkStatus> GetStatusAsync(string graph, CancellationToken cancellationToken);

    /// <summary>Sends data to an exported inport of the graph (<c>runtime:packet</c>).</summary>
    Task SendToInportAsync(string graph, string publicPort, JsonNode? data, CancellationToken cancellationToken);

    /// <summary>Reports what the graph's exported outports emit until disposed.</summary>
    Task<IAsyncDisposable> WatchOutportsAsync(string graph, FlowPacketHandler handler, CancellationToken cancellationToken);

    /// <summary>Reports the data that flows on the given edges until disposed (<c>network:edges</c> → <c>network:data</c>).</summary>
    Task<IAsyncDisposable> WatchEdgesAsync(string graph, IReadOnlyList<(FlowPortRef Src, FlowPortRef Tgt)> edges, FlowPacketHandler handler, CancellationToken cancellationToken);
}
