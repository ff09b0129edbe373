using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Trellis.Core.Errors;
using Trellis.Flows.Broker;
using Trellis.Flows.Discovery;
using Trellis.Flows.Graphs;
using Trellis.Flows.Networks;
using Trellis.Grains.Flows.Internal;

namespace Trellis.Grains.Flows;

internal sealed partial class FlowGraphGrain(
    [PersistentState("graph")] IPersistentState<FlowGraphState> state,
    ILogger<FlowGraphGrain> logger) : Grain, IFlowGraphGrain
{
    private FlowDirectoryVersion? _wiredAt;

    private IFlowBroker Broker => ServiceProvider.GetRequiredService<IFlowBroker>();

    private IFlowDirectoryGrain Directory => GrainFactory.GetGrain<IFlowDirectoryGrain>(IFlowDirectoryGrain.Key);

    public Task<string> Get() => Task.FromResult(state.State.Graph ?? new FlowGraph().ToJson(indented: false));

    public async Task<FlowEditResult> Set(string graph)
    {
        var parsed = FlowGraph.FromJson(graph);
        var participants = await ParticipantsAsync();
        if (FlowWiring.PortErrors(parsed, participants) is { Count: > 0 } errors)
        {
            return Refused(errors);
        }

        state.State.Graph = parsed.ToJson(indented: false);
        await Directory.AddGraph(this.GetPrimaryKeyString());
        return new FlowEditResult(await RewireAsync(parsed, participants), 0, null);
    }

    public async Task<FlowEditResult> Apply(string change)
    {
        var graph = Load();
        GraphChange edit;
        try
        {
            edit = FlowJson.ReadChange(change);
            edit.ApplyTo(graph);
        }
        catch (TrellisException e)
        {
            return new FlowEditResult(null, (int)e.Kind, e.Message);
        }

        var participants = await ParticipantsAsync();
        if (PortErrors(graph, edit, participants) is { Count: > 0 } errors)
        {
            return Refused(errors);
        }

        state.State.Graph = graph.ToJson(indented: false);
        await Directory.AddGraph(this.GetPrimaryKeyString());
        return new FlowEditResult(await RewireAsync(graph, participants), 0, null);
    }

    public Task<FlowGraphSetup> Setup() => Task.FromResult(Current());

    public async Task ParticipantsChanged(FlowDirectoryVersion version)
    {
        // A burst of announcements sends a burst of notices; one rewire with the latest definitions answers them all.
        if (state.State.Graph is null || _wiredAt?.Covers(version) == true)
        {
            return;
        }

        var now = await Directory.Version();
        await RewireAsync(Load(), await ParticipantsAsync());
        _wiredAt = now;
    }

    public async Task<FlowNetworkState> Start()
    {
        state.State.Started = true;
        state.State.StartedAt = ServiceProvider.GetService<TimeProvider>()?.GetUtcNow() ?? DateTimeOffset.UtcNow;
        await state.WriteStateAsync();
        return Network();
    }

    public async Task<FlowNetworkState> Stop()
    {
        state.State.Started = false;
        await state.WriteStateAsync();
        return Network();
    }

    public Task<FlowNetworkState> Status() => Task.FromResult(Network());

    private FlowNetworkState Network() => new(state.State.Started, state.State.StartedAt);

    private FlowGraph Load() => state.State.Graph is { } json ? FlowGraph.FromJson(json) : new FlowGraph();

    private FlowGraphSetup Current() => new([.. state.State.Bindings], [.. state.State.Pending], [.. state.State.Problems]);

    private static FlowEditResult Refused(IReadOnlyList<string> errors) =>
        new(null, (int)ErrorKind.InvalidArgument, string.Join("; ", errors));

    /// <summary>What is wrong with the ports an edit names (an edge's two ends, an IIP's target, an exported port's
    /// node port), on participants already discovered; the graph's older problems are not the edit's.</summary>
    private static IReadOnlyList<string> PortErrors(FlowGraph graph, GraphChange change, Dictionary<string, ParticipantDefinition> participants)
    {
        var errors = new List<string>();
        void Check(FlowPortRef end, bool inport, string what)
        {
            if (FlowWiring.PortError(graph, end, inport, participants, what) is { } error)
            {
                errors.Add(error);
            }
        }

        switch (change.Kind)
        {
            case GraphChangeKind.AddEdge:
                Check(change.Src!, inport: false, $"edge {change.Src} -> {change.Tgt}");
                Check(change.Tgt!, inport: true, $"edge {change.Src} -> {change.Tgt}");
                break;
            case GraphChangeKind.AddInitial:
                Check(change.Tgt!, inport: true, $"initial packet to {change.Tgt}");
                break;
            case GraphChangeKind.AddInport:
                Check(new FlowPortRef(change.Node!, change.Port!), inport: true, $"exported inport '{change.Name}'");
                break;
            case GraphChangeKind.AddOutport:
                Check(new FlowPortRef(change.Node!, change.Port!), inport: false, $"exported outport '{change.Name}'");
                break;
        }

        return errors;
    }

    /// <summary>The participants known, by role, for wiring.</summary>
    private async Task<Dictionary<string, ParticipantDefinition>> ParticipantsAsync()
    {
        var participants = new Dictionary<string, ParticipantDefinition>(StringComparer.Ordinal);
        foreach (var (role, payload) in await Directory.DefinitionsByRole())
        {
            try
            {
                participants[role] = Discovery.FromPayload(payload, FlowsOptions.DefaultParticipantTimeout);
            }
            catch (TrellisException)
            {
                // A stored payload that no longer parses is not wired; the participant's next announcement replaces it.
            }
        }

        return participants;
    }

    /// <summary>Makes the broker match the graph: unbinds what the graph no longer has, binds what it newly can, and
    /// sends the IIPs whose participant is known and that were not sent yet.</summary>
    private async Task<FlowGraphSetup> RewireAsync(FlowGraph graph, Dictionary<string, ParticipantDefinition> participants)
    {
        var name = this.GetPrimaryKeyString();
        var plan = FlowWiring.Plan(graph, participants);
        var problems = plan.Problems.ToList();
        var broker = Broker;
        foreach (var binding in state.State.Bindings.Except(plan.Bindings).ToList())
        {
            try
            {
                await broker.RemoveBindingAsync(binding, CancellationToken.None);
            }
            catch (TrellisException e)
            {
                LogUnbindFailed(logger, name, string.Join(" ", binding.Describe()), e.Message);
            }

            state.State.Bindings.Remove(binding);
        }

        foreach (var binding in plan.Bindings.Except(state.State.Bindings).ToList())
        {
            try
            {
                await broker.AddBindingAsync(binding, CancellationToken.None);
                state.State.Bindings.Add(binding);
                LogBound(logger, name, string.Join(" ", binding.Describe()));
            }
            catch (TrellisException e)
            {
                problems.Add($"{string.Join(" ", binding.Describe())}: {e.Message}");
            }
        }

        state.State.Bindings = [.. plan.Bindings.Where(state.State.Bindings.Contains)]; // in graph order
        var keys = FlowWiring.InitialKeys(graph);
        state.State.Delivered.RemoveAll(k => !keys.Contains(k));
        foreach (var initial in plan.Initials)
        {
            if (state.State.Delivered.Contains(initial.Key))
            {
                continue;
            }

            try
            {
                var body = Encoding.UTF8.GetBytes(initial.Data?.ToJsonString() ?? "null");
                await broker.SendToQueueAsync(initial.Queue, body, null, CancellationToken.None);
                state.State.Delivered.Add(initial.Key);
            }
            catch (TrellisException e)
            {
                problems.Add($"initial packet to {initial.Target}: {e.Message}");
            }
        }

        state.State.Pending = [.. plan.Pending];
        state.State.Problems = problems;
        await state.WriteStateAsync();
        return Current();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Graph {Graph}: {Binding}")]
    private static partial void LogBound(ILogger logger, string graph, string binding);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Graph {Graph}: could not remove {Binding}: {Problem}")]
    private static partial void LogUnbindFailed(ILogger logger, string graph, string binding, string problem);
}
