using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Trellis.Core.Errors;
using Trellis.Flows.Broker;
using Trellis.Flows.Discovery;
using Trellis.Flows.Graphs;
using Trellis.Flows.Networks;
using Trellis.Grains.Flows.Internal;

namespace Trellis.Grains.Flows;

/// <summary><see cref="IFlowNetworks"/> on the flow grains and the broker, for silos and gateways alike: graphs and
/// participants live in grains; packets to exported inports go straight to the participant's inqueue, and exported
/// outports and watched edges are read through broker taps, so nothing of the data passes through a grain.</summary>
public sealed class FlowNetworks(IGrainFactory grains, IFlowBroker broker) : IFlowNetworks
{
    private IFlowDirectoryGrain Directory => grains.GetGrain<IFlowDirectoryGrain>(IFlowDirectoryGrain.Key);

    public async Task<IReadOnlyList<ParticipantInfo>> ListParticipantsAsync(CancellationToken cancellationToken)
    {
        var entries = await Directory.Participants().WaitAsync(cancellationToken);
        var list = new List<ParticipantInfo>(entries.Length);
        foreach (var e in entries)
        {
            if (TryDefinition(e.Payload, e.Heartbeat) is { } definition)
            {
                list.Add(new ParticipantInfo(definition, e.FirstSeen, e.LastSeen, e.Expired ? ParticipantStatus.Expired : ParticipantStatus.Online));
            }
        }

        return list;
    }

    public async Task<IReadOnlyList<string>> ListGraphsAsync(CancellationToken cancellationToken) =>
        await Directory.Graphs().WaitAsync(cancellationToken);

    public async Task<FlowGraph> GetGraphAsync(string graph, CancellationToken cancellationToken) =>
        FlowGraph.FromJson(await Graph(graph).Get().WaitAsync(cancellationToken));

    public async Task<FlowSetup> SetGraphAsync(string graph, FlowGraph definition, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(definition);
        return Unwrap(await Graph(graph).Set(definition.ToJson(indented: false)).WaitAsync(cancellationToken));
    }

    public async Task<FlowSetup> ApplyAsync(string graph, GraphChange change, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(change);
        return Unwrap(await Graph(graph).Apply(FlowJson.WriteChange(change)).WaitAsync(cancellationToken));
    }

    public async Task<FlowSetup> GetSetupAsync(string graph, CancellationToken cancellationToken) =>
        ToSetup(await Graph(graph).Setup().WaitAsync(cancellationToken));

    public async Task<NetworkStatus> StartAsync(string graph, CancellationToken cancellationToken) =>
        ToStatus(graph, await Graph(graph).Start().WaitAsync(cancellationToken));

    public async Task<NetworkStatus> StopAsync(string graph, CancellationToken cancellationToken) =>
        ToStatus(graph, await Graph(graph).Stop().WaitAsync(cancellationToken));

    public async Task<NetworkStatus> GetStatusAsync(string graph, CancellationToken cancellationToken) =>
        ToStatus(graph, await Graph(graph).Status().WaitAsync(cancellationToken));

    public async Task SendToInportAsync(string graph, string publicPort, JsonNode? data, CancellationToken cancellationToken)
    {
        var g = await GetGraphAsync(graph, cancellationToken);
        if (string.IsNullOrEmpty(publicPort) || !g.Inports.TryGetValue(g.FoldPort(publicPort), out var export))
        {
            throw new TrellisException(ErrorKind.NotFound, $"graph '{graph}' has no exported inport '{publicPort}'");
        }

        var queue = await ResolveAsync(graph, new FlowPortRef(export.Process, export.Port), inport: true, cancellationToken);
        await broker.SendToQueueAsync(queue, Encoding.UTF8.GetBytes(data?.ToJsonString() ?? "null"), null, cancellationToken);
    }

    public async Task<IAsyncDisposable> WatchOutportsAsync(string graph, FlowPacketHandler handler, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(handler);
        var g = await GetGraphAsync(graph, cancellationToken);
        var taps = new Taps();
        try
        {
            foreach (var (name, export) in g.Outports)
            {
                var exchange = await ResolveAsync(graph, new FlowPortRef(export.Process, export.Port), inport: false, cancellationToken);
                taps.Add(await broker.TapAsync(exchange, (_, body, ct) => handler(new FlowPacket(graph, null, null, name, Parse(body)), ct), cancellationToken));
            }

            return taps;
        }
        catch
        {
            await taps.DisposeAsync();
            throw;
        }
    }

    public async Task<IAsyncDisposable> WatchEdgesAsync(string graph, IReadOnlyList<(FlowPortRef Src, FlowPortRef Tgt)> edges, FlowPacketHandler handler, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(edges);
        ArgumentNullException.ThrowIfNull(handler);
        var taps = new Taps();
        try
        {
            foreach (var (src, tgt) in edges)
            {
                var exchange = await ResolveAsync(graph, src, inport: false, cancellationToken);
                taps.Add(await broker.TapAsync(exchange, (_, body, ct) => handler(new FlowPacket(graph, src, tgt, null, Parse(body)), ct), cancellationToken));
            }

            return taps;
        }
        catch
        {
            await taps.DisposeAsync();
            throw;
        }
    }

    private IFlowGraphGrain Graph(string graph)
    {
        if (string.IsNullOrWhiteSpace(graph))
        {
            throw TrellisException.Invalid("the graph name must not be empty");
        }

        return grains.GetGrain<IFlowGraphGrain>(graph);
    }

    /// <summary>The queue (inport) or exchange (outport) of a node's port, from its participant's announcement.</summary>
    private async Task<string> ResolveAsync(string graph, FlowPortRef end, bool inport, CancellationToken cancellationToken)
    {
        var byRole = await Directory.DefinitionsByRole().WaitAsync(cancellationToken);
        if (!byRole.TryGetValue(end.Process, out var payload) || TryDefinition(payload, FlowsOptions.DefaultParticipantTimeout) is not { } participant)
        {
            throw new TrellisException(ErrorKind.FailedPrecondition, $"graph '{graph}': no participant of role '{end.Process}' has been discovered yet");
        }

        return FlowWiring.FindQueue(participant, end.Port, inport)
            ?? throw new TrellisException(ErrorKind.NotFound, $"graph '{graph}': participant '{participant.Id}' has no {(inport ? "inport" : "outport")} '{end.Port}' with a queue");
    }

    private static ParticipantDefinition? TryDefinition(string payload, TimeSpan heartbeat)
    {
        try
        {
            return Discovery.FromPayload(payload, heartbeat);
        }
        catch (Exception e) when (e is TrellisException or JsonException)
        {
            return null;
        }
    }

    /// <summary>The packet's data: its JSON, or the text itself when it is not JSON.</summary>
    private static JsonNode? Parse(ReadOnlyMemory<byte> body)
    {
        try
        {
            return JsonNode.Parse(body.Span);
        }
        catch (JsonException)
        {
            return JsonValue.Create(Encoding.UTF8.GetString(body.Span));
        }
    }

    private static FlowSetup Unwrap(FlowEditResult result) =>
        result.Setup is { } setup
            ? ToSetup(setup)
            : throw new TrellisException((ErrorKind)result.ErrorKind, result.Error ?? "the graph change was refused");

    private static FlowSetup ToSetup(FlowGraphSetup setup) => new(setup.Bindings, setup.Pending, setup.Problems);

    private static NetworkStatus ToStatus(string graph, FlowNetworkState state) => new(graph, state.Started, state.Started, state.StartedAt);

    private sealed class Taps : IAsyncDisposable
    {
        private readonly List<IAsyncDisposable> _taps = [];

        public void Add(IAsyncDisposable tap) => _taps.Add(tap);

        public async ValueTask DisposeAsync()
        {
            foreach (var tap in _taps)
            {
                await tap.DisposeAsync();
            }

            _taps.Clear();
        }
    }
}
