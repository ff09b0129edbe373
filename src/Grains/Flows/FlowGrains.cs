using Orleans.Concurrency;
using Trellis.Flows.Broker;

namespace Trellis.Grains.Flows;

/// <summary>A participant discovered on <c>fbp</c>, keyed by its participant id: its latest announcement, when it was
/// first and last seen, and whether it is still within its heartbeat.</summary>
public interface IFlowParticipantGrain : IGrainWithStringKey
{
    /// <summary>Records an announcement (<paramref name="payload"/> is the discovery payload as JSON).</summary>
    Task Announce(string role, string payload, TimeSpan? heartbeat);

    /// <summary>The participant, or null when it never announced itself.</summary>
    [AlwaysInterleave]
    Task<FlowParticipantEntry?> Get();
}

/// <summary>The cluster's flows (one grain, key <see cref="Key"/>): the participants known (the latest definition per
/// participant, for wiring by role) and the graphs, which it tells when a participant appears or changes.</summary>
public interface IFlowDirectoryGrain : IGrainWithStringKey
{
    public const string Key = "flows";

    /// <summary>A participant appeared or announced a different definition: graphs rewire.</summary>
    Task Upsert(string participantId, string role, string payload);

    Task<FlowParticipantEntry[]> Participants();

    /// <summary>How many changes this activation has made (with the activation's epoch): a graph that wired with the
    /// definitions read after a version skips the notices of that version and older.</summary>
    Task<FlowDirectoryVersion> Version();

    /// <summary>The payload of the participant to wire for each role (the one that announced last).</summary>
    Task<Dictionary<string, string>> DefinitionsByRole();

    Task AddGraph(string graph);

    Task<string[]> Graphs();
}

/// <summary>A graph, keyed by its name: the graph itself (npm <c>fbp</c> JSON), the bindings it made on the broker, the
/// IIPs it delivered, and its network state. It binds edges and sends IIPs as their participants appear.</summary>
public interface IFlowGraphGrain : IGrainWithStringKey
{
    /// <summary>The graph as JSON; an empty graph when it was never set.</summary>
    Task<string> Get();

    /// <summary>Replaces the graph and rewires: unbinds what is gone, binds what is new. A graph naming a port a
    /// discovered participant does not have (or hides) is refused as the error, and the graph stays as it was.</summary>
    Task<FlowEditResult> Set(string graph);

    /// <summary>Applies one edit (a <see cref="Trellis.Flows.Graphs.GraphChange"/> as JSON) and rewires; a bad edit
    /// leaves the graph unchanged and comes back as the error; so does an edge, IIP or exported port naming a port its
    /// discovered participant does not have (or hides).</summary>
    Task<FlowEditResult> Apply(string change);

    Task<FlowGraphSetup> Setup();

    /// <summary>Participants changed (the directory at <paramref name="version"/>): bind what now can be bound and send
    /// the IIPs now deliverable, unless this graph rewired with definitions as new as that already.</summary>
    [OneWay]
    Task ParticipantsChanged(FlowDirectoryVersion version);

    Task<FlowNetworkState> Start();

    Task<FlowNetworkState> Stop();

    Task<FlowNetworkState> Status();
}

/// <summary>A participant as stored: the discovery payload (JSON), first and last seen, and its heartbeat.</summary>
[GenerateSerializer, Immutable]
public sealed record FlowParticipantEntry(
    [property: Id(0)] string Id,
    [property: Id(1)] string Role,
    [property: Id(2)] string Payload,
    [property: Id(3)] DateTimeOffset FirstSeen,
    [property: Id(4)] DateTimeOffset LastSeen,
    [property: Id(5)] TimeSpan Heartbeat,
    [property: Id(6)] bool Expired);

/// <summary>A graph's wiring: bindings in place, nodes waiting for their participant, and what could not be wired.</summary>
[GenerateSerializer, Immutable]
public sealed record FlowGraphSetup(
    [property: Id(0)] FlowBinding[] Bindings,
    [property: Id(1)] string[] Pending,
    [property: Id(2)] string[] Problems);

/// <summary>The outcome of an edit: the new setup, or the error (a <see cref="Trellis.Core.Errors.ErrorKind"/> and message).</summary>
[GenerateSerializer, Immutable]
public sealed record FlowEditResult([property: Id(0)] FlowGraphSetup? Setup, [property: Id(1)] int ErrorKind, [property: Id(2)] string? Error);

/// <summary>A count of the directory's changes within one activation of it (<see cref="Epoch"/>).</summary>
[GenerateSerializer, Immutable]
public sealed record FlowDirectoryVersion([property: Id(0)] Guid Epoch, [property: Id(1)] long Changes)
{
    /// <summary>True when definitions read at this version include every change <paramref name="other"/> announces.</summary>
    public bool Covers(FlowDirectoryVersion other) => other.Epoch == Epoch && other.Changes <= Changes;
}

/// <summary>A graph's network state (<c>network:status</c>).</summary>
[GenerateSerializer, Immutable]
public sealed record FlowNetworkState([property: Id(0)] bool Started, [property: Id(1)] DateTimeOffset? StartedAt);

/// <summary>The state of a <see cref="IFlowParticipantGrain"/>.</summary>
[GenerateSerializer]
public sealed class FlowParticipantState
{
    [Id(0)]
    public FlowParticipantEntry? Entry { get; set; }
}

/// <summary>The state of the <see cref="IFlowDirectoryGrain"/>.</summary>
[GenerateSerializer]
public sealed class FlowDirectoryState
{
    /// <summary>Participant id → (role, payload), in the order they last changed.</summary>
    [Id(0)]
    public List<FlowDirectoryEntry> Participants { get; set; } = [];

    [Id(1)]
    public List<string> Graphs { get; set; } = [];
}

/// <summary>A participant's latest definition, as the directory keeps it for wiring.</summary>
[GenerateSerializer, Immutable]
public sealed record FlowDirectoryEntry([property: Id(0)] string Id, [property: Id(1)] string Role, [property: Id(2)] string Payload);

/// <summary>The state of a <see cref="IFlowGraphGrain"/>.</summary>
[GenerateSerializer]
public sealed class FlowGraphState
{
    /// <summary>The graph as JSON; null until set.</summary>
    [Id(0)]
    public string? Graph { get; set; }

    [Id(1)]
    public List<FlowBinding> Bindings { get; set; } = [];

    /// <summary>Keys of the IIPs already sent (<see cref="Trellis.Flows.Networks.FlowInitial.Key"/>).</summary>
    [Id(2)]
    public List<string> Delivered { get; set; } = [];

    [Id(3)]
    public List<string> Pending { get; set; } = [];

    [Id(4)]
    public List<string> Problems { get; set; } = [];

    [Id(5)]
    public bool Started { get; set; }

    [Id(6)]
    public DateTimeOffset? StartedAt { get; set; }
}
